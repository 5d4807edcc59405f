"""FallbackStrategy: which profiles to try, in order, for which kind of failure."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from understudy.errors import ConfigError
from understudy.failures.names import WILDCARD, ExceptionNames
from understudy.plugins import get_plugin_manager
from understudy.profiles.profile import NAME_PATTERN

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pluggy

    from understudy.profiles.profile import Profile

__all__ = ["FallbackStrategy"]

Key = str | type[BaseException]

logger = logging.getLogger("understudy")


class FallbackStrategy:
    """Maps exception types to ordered lists of profile names.

    ``resolve(error)`` walks the error's class hierarchy from the most specific class up and returns the
    list of the first class that has an entry, else the ``"*"`` list. ``"*"`` answers provider failures
    only (every exception a plugin registered: litellm's, ``TimeoutError``, ``ConnectionError``); a
    programming error such as ``TypeError`` is never answered with a fallback. An empty list is an
    answer too: ``BadRequestError = []`` stops a malformed request from walking the whole chain, while
    its subclasses ``ContextWindowExceededError`` and ``ContentPolicyViolationError`` keep their own lists.

    Args:
        fallbacks: exception class, registered exception name, or ``"*"``, to profile names.
        plugin_manager: where exception names are registered (default: the process-wide manager).

    Raises:
        ConfigError: a key is neither an exception class nor a registered name, or a profile name is
            invalid. Checked here, when the strategy is built, not when a call fails.
    """

    def __init__(
        self,
        fallbacks: Mapping[str, Sequence[str]] | Mapping[Key, Sequence[str]] | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> None:
        self._names = ExceptionNames.of(plugin_manager or get_plugin_manager())
        self._entries: dict[Key, tuple[str, ...]] = {}
        for key, targets in (fallbacks or {}).items():
            if isinstance(key, str):
                self._names.check(key)
            elif not (isinstance(key, type) and issubclass(key, BaseException)):
                raise ConfigError(f"fallback key {key!r} is neither an exception class nor an exception name")
            if isinstance(targets, str):
                raise ConfigError(f"fallbacks for {_key_name(key)} must be a list of profile names, not a string")
            for target in targets:
                if not NAME_PATTERN.match(target):
                    raise ConfigError(f"fallbacks for {_key_name(key)}: {target!r} is not a valid profile name")
            self._entries[key] = tuple(dict.fromkeys(targets))
        self._by_class: dict[type[BaseException], tuple[str, ...]] | None = None
        self._key_names: dict[type[BaseException], str] = {}
        self._provider_errors: tuple[type[BaseException], ...] = ()
        self._lock = threading.Lock()

    @classmethod
    def from_profile(cls, profile: Profile, *, plugin_manager: pluggy.PluginManager | None = None) -> FallbackStrategy:
        """The strategy a profile declares in its ``fallbacks`` table."""
        return cls(dict(profile.fallbacks), plugin_manager=plugin_manager)

    @property
    def entries(self) -> dict[str, tuple[str, ...]]:
        """The table as written, keyed by exception name."""
        return {_key_name(key): targets for key, targets in self._entries.items()}

    def targets(self) -> list[str]:
        """Every profile name the strategy can reach, in first-mention order."""
        return list(dict.fromkeys(name for targets in self._entries.values() for name in targets))

    def resolve(self, error: BaseException) -> tuple[str, ...]:
        """The profiles to try, in order, after a profile raised ``error``; empty for no fallback."""
        return self.match(type(error))[1]

    def resolve_class(self, error_class: type[BaseException]) -> tuple[str, ...]:
        """``resolve`` for an exception class rather than an instance."""
        return self.match(error_class)[1]

    def match(self, error_class: type[BaseException]) -> tuple[str | None, tuple[str, ...]]:
        """The entry that answers ``error_class`` (its name as written, or ``"*"``; None if none) and its list.

        This is what ``understudy explain`` shows: which line of the table a failure would follow.
        """
        by_class, provider_errors = self._table()
        for cls in error_class.__mro__:
            found = by_class.get(cls)
            if found is not None:
                return self._key_names[cls], found
        if WILDCARD in self._entries and issubclass(error_class, provider_errors):
            return WILDCARD, self._entries[WILDCARD]
        return None, ()

    def match_name(self, error_name: str) -> tuple[str | None, tuple[str, ...]]:
        """``match`` for a registered exception name, without importing litellm.

        The name's lineage (its class and every class above it) is read from the installed litellm's source,
        so ``understudy explain`` answers in milliseconds. Gives what ``match`` gives for the class.

        Raises:
            UnknownExceptionNameError: nobody registered the name.
        """
        if error_name == WILDCARD:
            return (WILDCARD, self._entries[WILDCARD]) if WILDCARD in self._entries else (None, ())
        if any(not isinstance(key, str) for key in self._entries):  # a class key: only the classes can tell
            return self.match(self._names.resolve(error_name))
        lineage = self._names.lineage(error_name)
        for name in lineage:
            if name in self._entries:
                return name, self._entries[name]
        known = self._names.known()
        if WILDCARD in self._entries and any(name in known for name in lineage):
            return WILDCARD, self._entries[WILDCARD]
        return None, ()

    def _class_of(self, key: Key) -> type[BaseException]:
        return self._names.resolve(key) if isinstance(key, str) else key

    def is_provider_error(self, error: BaseException) -> bool:
        """True for the failures ``"*"`` covers, or any the table names explicitly."""
        by_class, provider_errors = self._table()
        return isinstance(error, provider_errors) or any(cls in by_class for cls in type(error).__mro__)

    def _table(self) -> tuple[dict[type[BaseException], tuple[str, ...]], tuple[type[BaseException], ...]]:
        # Names resolve on first use, not at construction: resolving imports litellm, and a strategy is
        # built whenever a profile is loaded, which must stay cheap. Nothing here may raise: it runs in the
        # middle of a failing call, where the provider's error is what the caller must see.
        with self._lock:
            if self._by_class is None:
                by_class: dict[type[BaseException], tuple[str, ...]] = {}
                for key, targets in self._entries.items():
                    if key == WILDCARD:
                        continue
                    try:
                        cls = self._class_of(key)
                    except (ImportError, AttributeError, TypeError) as exc:
                        logger.warning("fallbacks entry %r is ignored: its class cannot be imported (%s)", key, exc)
                        continue
                    # Two names for one class (e.g. a name and the class itself): the first one written wins.
                    if cls not in by_class:
                        by_class[cls] = targets
                        self._key_names[cls] = _key_name(key)
                self._provider_errors = self._names.provider_errors()
                self._by_class = by_class
            return self._by_class, self._provider_errors

    def __repr__(self) -> str:
        return f"FallbackStrategy({self.entries!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FallbackStrategy) and self._entries == other._entries

    __hash__ = None  # type: ignore[assignment]


def _key_name(key: Key) -> str:
    return key if isinstance(key, str) else key.__name__
