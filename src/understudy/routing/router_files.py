"""Routers by name: the router files beside the profiles, read on first use and again whenever they change.

A router file is ``routes`` (a match router), ``tiers`` (a tiered router), or any ``NAME.toml``, ``.json`` or
``.yaml`` that says ``kind = "match"`` or ``kind = "tiered"``; the router's name is the file's stem.
``LLMRegistry.router(name)`` gives the router, ``LLMRegistry.routed(name)`` the routed LLM that
``understudy/<name>`` reaches through the litellm provider and the openai transport.

Each decision first looks at the file (a few ``stat`` calls). When it changed, it is read again; an edit that
does not load keeps the last good version routing, logs a warning and sends ``RouterReloadFailed`` once per
broken version, so a typo saved mid-deploy never stops the calls. ``understudy check`` names the problem.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from understudy.calls.drivers import emit_sync
from understudy.errors import RouteConfigError
from understudy.events import RouterReloadFailed
from understudy.profiles.documents import DOCUMENT_SUFFIXES, DocumentError, parse_document
from understudy.profiles.files import file_signature
from understudy.profiles.profile import NAME_PATTERN, NAME_RULE, ROUTES_FILE_STEM, TIERS_FILE_STEM
from understudy.redaction import redact
from understudy.routing.match import MatchRouter
from understudy.routing.sessions import Stickiness
from understudy.routing.tiered import TieredRouter

if TYPE_CHECKING:
    from pathlib import Path

    from understudy.calls.protocols import Registry
    from understudy.routing.routes import RouteDecision, Router

__all__ = ["RouterFiles", "WatchedRouter"]

logger = logging.getLogger("understudy")

# What a file under one of these stems is when it does not say.
_KIND_OF_STEM: Final = {ROUTES_FILE_STEM: "match", TIERS_FILE_STEM: "tiered"}


class RouterFiles:
    """The router files of one registry, each loaded once by name and watched from then on.

    Args:
        registry: where the files are found (its store's search path), whose profiles a classifier runs
            on, and where ``RouterReloadFailed`` goes.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._watched: dict[str, WatchedRouter] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> WatchedRouter:
        """The router file called ``name``, loaded now if it was not yet.

        Raises:
            RouteConfigError: there is no such router file, it does not load (the first time), or it is being
                built on this thread (a router that hands off to itself, directly or not).
        """
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise RouteConfigError(f"{name!r} is not a router name: {NAME_RULE}")
        if name in _building():
            raise RouteConfigError(
                f"router {name!r} hands the call back to itself (routers in a circle); hand off to a tiered router"
            )
        with self._lock:
            watched = self._watched.get(name)
        if watched is None:
            watched = WatchedRouter(name, self)  # reads the file: outside the lock
            with self._lock:
                watched = self._watched.setdefault(name, watched)
        return watched

    def locate(self, name: str) -> Path | None:
        """The file of router ``name``: the first on the search path, ``.toml`` before ``.json`` and YAML."""
        return self.registry.store.find_file(name, DOCUMENT_SUFFIXES)

    def loaded(self, name: str) -> bool:
        """Whether router ``name`` was read already (touches no file)."""
        with self._lock:
            return name in self._watched

    def build(self, name: str, path: Path, text: str) -> tuple[Router, Stickiness | None]:
        """The router in ``text``, the content of ``path``, checked against the store's profiles, and the
        stickiness the file asks for (its ``stickiness`` key, read here: a router by name has no code to say it).

        Raises:
            RouteConfigError: it does not parse, says no ``kind``, or names a profile that does not exist.
        """
        building = _building()
        building.add(name)
        try:
            return self._build(name, path, text)
        finally:
            building.discard(name)

    def _build(self, name: str, path: Path, text: str) -> tuple[Router, Stickiness | None]:
        try:
            data = parse_document(path, text)
        except DocumentError as exc:
            raise RouteConfigError(str(exc), path=path) from None
        if not isinstance(data, Mapping):
            raise RouteConfigError("the file must hold one table", path=path)
        data = dict(data)
        stickiness = _stickiness(data.pop("stickiness", None), path)
        kind = data.get("kind", _KIND_OF_STEM.get(name))
        router: Router
        if kind == "match":
            router = MatchRouter.from_dict(data, path=path, name=name, routers=self.get)
        elif kind == "tiered":
            router = TieredRouter.from_dict({"name": name, **data}, registry=self.registry, path=path)
        else:
            raise RouteConfigError(
                f'is {kind!r}, not a router; a router file says kind = "tiered" or kind = "match"'
                if kind is not None
                else 'says no kind; add kind = "tiered" or kind = "match" to make it a router file',
                path=path,
                where="kind",
            )
        self._check_names(router, path)
        return router, stickiness

    def _check_names(self, router: Router, path: Path) -> None:
        known = set(self.registry.store.names())
        if isinstance(router, MatchRouter):
            router.check_names(known)  # names the route that is wrong
        missing = [profile for profile in router.profiles() if profile not in known]
        if missing:
            raise RouteConfigError(f"names profiles that do not exist: {', '.join(missing)}; create them", path=path)

    def __repr__(self) -> str:
        with self._lock:
            return f"RouterFiles(loaded={sorted(self._watched)!r})"


class WatchedRouter:
    """One router file by name, as it is now; implements ``Router`` by asking the latest good version.

    Raises:
        RouteConfigError: on creation, when the file is missing or does not load.
    """

    def __init__(self, name: str, files: RouterFiles) -> None:
        self.name = name
        self._files = files
        self._lock = threading.Lock()
        path = files.locate(name)
        if path is None:
            searched = ", ".join(str(directory) for directory in files.registry.store.paths)
            raise RouteConfigError(
                f"no router file named {name!r} (searched {searched}); create {name}.toml with "
                'kind = "tiered" or kind = "match"'
            )
        signature = file_signature(path)
        text = _read(path)
        self._router, self._stickiness = files.build(name, path, text)
        self.path: Path = path
        self._signature: tuple[Path, tuple[int, ...]] | None = (path, signature) if signature is not None else None
        self._good: tuple[Path, str] = (path, text)  # the version routing
        self._bad: tuple[Path, str] | None = None  # the broken version last reported
        self.problem: str | None = None
        """Why the file on disk is not the version routing (it changed and does not load); None when it is."""

    @property
    def current(self) -> Router:
        """The router as the file says now, or the last good version when the file no longer loads."""
        with self._lock:
            news = self._refresh()
            router = self._router
        if news is not None:  # told outside the lock: a subscriber may ask this router again
            emit_sync(self._files.registry.dispatch, news)
        return router

    @property
    def loaded(self) -> Router:
        """The version routing, without looking at the file: what building another router checks against,
        so that no build waits on another router's lock."""
        return self._router

    @property
    def default(self) -> str:
        return self.current.default

    @property
    def stickiness(self) -> Stickiness | None:
        """What the file's ``stickiness`` key says (as of its last good version); None when it says nothing."""
        with self._lock:
            return self._stickiness

    def select(
        self, context: Mapping[str, Any], *, messages: Sequence[Mapping[str, Any]] | None = None
    ) -> RouteDecision:
        return self.current.select(context, messages=messages)

    async def aselect(
        self, context: Mapping[str, Any], *, messages: Sequence[Mapping[str, Any]] | None = None
    ) -> RouteDecision:
        router = self.current
        aselect = getattr(router, "aselect", None)
        if callable(aselect):
            decision: RouteDecision = await aselect(context, messages=messages)
            return decision
        return router.select(context, messages=messages)

    def profiles(self) -> list[str]:
        return self.loaded.profiles()

    def _refresh(self) -> RouterReloadFailed | None:
        """Read the file again if it moved or changed; keep the last good version if it does not load. Returns
        the event to send when this found a new problem."""
        path = self._files.locate(self.name)
        if path is None:
            self._signature, self._bad = None, None
            return self._broken(self.path, "the file is gone; the last version read keeps routing until it is back")
        signature = file_signature(path)
        if signature is not None and (path, signature) == self._signature:
            return None  # untouched since it was read
        try:
            text = _read(path)
        except RouteConfigError as exc:
            return self._broken(path, exc.reason)
        self._signature = (path, signature) if signature is not None else None
        if (path, text) == self._good:
            self.problem, self._bad = None, None  # back to the version routing (the file came back, an edit undone)
            return None
        if (path, text) == self._bad:
            return None  # this broken version was reported already
        try:
            router, stickiness = self._files.build(self.name, path, text)
        except RouteConfigError as exc:
            self._bad = (path, text)
            return self._broken(path, str(exc))
        self._router, self._stickiness, self._good = router, stickiness, (path, text)
        self._bad, self.path, self.problem = None, path, None
        logger.info("router %r: read %s again", self.name, path)
        return None

    def _broken(self, path: Path, problem: str) -> RouterReloadFailed | None:
        if problem == self.problem:
            return None
        self.problem = problem
        message = redact(problem)
        logger.warning("router %r: %s does not load; the last good version keeps routing: %s", self.name, path, message)
        return RouterReloadFailed(call_id="", primary="", router=self.name, path=str(path), message=message)

    def __repr__(self) -> str:
        return f"WatchedRouter({self.name!r}, path={self.path!s})"


_local = threading.local()


def _building() -> set[str]:
    """The router files this thread is building now, innermost last: a name among them is a circle."""
    building: set[str] | None = getattr(_local, "building", None)
    if building is None:
        building = _local.building = set()
    return building


def _stickiness(value: Any, path: Path) -> Stickiness | None:
    """A router file's ``stickiness``: ``"session"``, ``"per_call"``, seconds for a ttl, or a table of
    ``Stickiness`` fields (``{ mode = "session", switch_cost = 1.5, decision_ttl = 600 }``).

    Raises:
        RouteConfigError: it is none of these; names the key and the fix.
    """
    if value is None:
        return None
    try:
        return Stickiness.model_validate(value) if isinstance(value, Mapping) else Stickiness.of(value)
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise RouteConfigError(
            f'{first}; use "session", "per_call", seconds for a ttl, or a table of mode, ttl, switch_cost, '
            "max_sessions, decision_ttl",
            path=path,
            where="stickiness",
        ) from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RouteConfigError(f"cannot read the file: {exc}", path=path) from exc
