"""The exception names a fallback table may use, and the classes they stand for.

Names come from plugins (``understudy_exception_names``); the built-in plugin registers every exception class
the installed litellm defines, plus Python's ``TimeoutError`` and ``ConnectionError``. litellm's names are read
from its source file, not by importing it, so a class a new litellm release adds is usable the day it ships and
checking a profile still costs milliseconds. A name maps to a class or to a ``"module:Class"`` reference that is
imported only when an error must be matched. Dotted paths written in profile files are never imported: only
registered names resolve.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.metadata
import importlib.util
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Final

from understudy.errors import UnknownExceptionNameError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pluggy

__all__ = ["INTRODUCED", "LITELLM_EXCEPTIONS", "WILDCARD", "ExceptionNames", "litellm_exception_classes"]

WILDCARD: Final = "*"

# The exception classes of litellm 1.83.0, the oldest release supported: the names used when the installed
# litellm's source cannot be read (a zipped or compiled install).
LITELLM_EXCEPTIONS: Final = (
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "BlockedPiiEntityError",
    "BudgetExceededError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "GuardrailRaisedException",
    "ImageFetchError",
    "InternalServerError",
    "InvalidRequestError",
    "JSONSchemaValidationError",
    "LiteLLMUnknownProvider",
    "MidStreamFallbackError",
    "MockException",
    "NotFoundError",
    "OpenAIError",
    "PermissionDeniedError",
    "RateLimitError",
    "RejectedRequestError",
    "ServiceUnavailableError",
    "Timeout",
    "UnprocessableEntityError",
    "UnsupportedParamsError",
)

# Classes later litellm releases added, with the first release that has each: a profile naming one on an older
# litellm is told which release to upgrade to, rather than that the name is unknown.
INTRODUCED: Final[Mapping[str, str]] = {
    "ModifyResponseException": "1.84.0",
    "SensitiveDataRouteException": "1.89.0",
    "VectorStoreSearchError": "1.102.0",
    "ModelNotMappedError": "1.104.0",
    "PaymentRequiredError": "1.106.0",
    "CallerCredentialAuthenticationError": "1.108.0",
    "CallerCredentialRateLimitError": "1.108.0",
    "MalformedRequestFieldError": "1.108.0",
    "EndpointNotSupportedByModelError": "1.109.0",
    "UnsupportedEndpointError": "1.109.0",
}

_BASE_EXCEPTIONS: Final = frozenset({"Exception", "BaseException"})

Target = str | type[BaseException]


class ExceptionNames:
    """Resolves exception names through the plugins of one plugin manager.

    Get it with ``ExceptionNames.of(plugin_manager)``: one per manager, so what it resolves (imports, the
    classes ``"*"`` covers) is worked out once per process, not once per strategy.
    """

    def __init__(self, plugin_manager: pluggy.PluginManager) -> None:
        self._pm = plugin_manager
        self._resolved: dict[str, type[BaseException]] = {}
        self._provider_errors: tuple[tuple[tuple[str, Target], ...], tuple[type[BaseException], ...]] | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, plugin_manager: pluggy.PluginManager) -> ExceptionNames:
        """The shared instance for ``plugin_manager``."""
        with _shared_lock:
            names = _shared.get(plugin_manager)
            if names is None:
                names = _shared[plugin_manager] = cls(plugin_manager)
            return names

    def table(self) -> dict[str, Target]:
        """Every registered name and its target; later plugins cannot shadow earlier registrations."""
        table: dict[str, Target] = {}
        # pluggy calls the most recently registered plugin first; reversing lets built-ins win a name.
        for mapping in reversed(self._pm.hook.understudy_exception_names()):
            for name, target in mapping.items():
                table.setdefault(name, target)
        return table

    def known(self) -> frozenset[str]:
        """Every name a fallback table may use, ``"*"`` included. Imports nothing."""
        return frozenset(self.table()) | {WILDCARD}

    def check(self, name: str) -> str:
        """Return ``name`` if it is registered or ``"*"``.

        Raises:
            UnknownExceptionNameError: nobody registered the name.
        """
        if name != WILDCARD and name not in self.table():
            raise UnknownExceptionNameError(name, self.known(), note=_missing_from_litellm(name))
        return name

    def resolve(self, name: str) -> type[BaseException]:
        """The class a name stands for, importing its module if needed.

        A name covers every class of that name above it in the hierarchy, since litellm's classes subclass
        openai's of the same name: ``APIConnectionError`` also covers litellm's ``Timeout``, which derives
        from openai's ``APIConnectionError`` but not from litellm's.

        Raises:
            UnknownExceptionNameError: nobody registered the name.
        """
        with self._lock:
            cached = self._resolved.get(name)
        if cached is not None:
            return cached
        return self._resolve(name, self.table())

    def lineage(self, name: str) -> tuple[str, ...]:
        """The names of a class and of every class above it, most specific first, e.g. ``Timeout``,
        ``APITimeoutError``, ``APIConnectionError``, ``APIError``, ``OpenAIError``.

        litellm's (and openai's) hierarchy is read from their source, so nothing is imported; a plugin's
        ``"module:Class"`` name is imported to learn its bases.

        Raises:
            UnknownExceptionNameError: nobody registered the name.
        """
        table = self.table()
        target = table.get(name)
        if target is None:
            raise UnknownExceptionNameError(name, self.known(), note=_missing_from_litellm(name))
        if isinstance(target, str) and target.startswith("litellm.exceptions:"):
            found = _source_lineage(target.partition(":")[2])
            if found is not None:
                return found
        cls = _import(target) if isinstance(target, str) else target
        return tuple(dict.fromkeys(c.__name__ for c in cls.__mro__ if issubclass(c, BaseException)))

    def _resolve(self, name: str, table: dict[str, Target]) -> type[BaseException]:
        target = table.get(name)
        if target is None:
            raise UnknownExceptionNameError(name, self.known(), note=_missing_from_litellm(name))
        cls = _widest_of_same_name(_import(target) if isinstance(target, str) else target)
        with self._lock:
            self._resolved[name] = cls
        return cls

    def provider_errors(self) -> tuple[type[BaseException], ...]:
        """Every registered class: what ``"*"`` covers. Imports the modules the names point into.

        A name whose class cannot be imported (a plugin's optional dependency, a class a newer litellm
        dropped) is left out rather than breaking every call.
        """
        table = self.table()
        snapshot = tuple(table.items())  # a plugin registered since changes it, and the answer
        with self._lock:
            if self._provider_errors is not None and self._provider_errors[0] == snapshot:
                return self._provider_errors[1]
        classes = []
        for name in table:
            try:
                classes.append(self._resolved.get(name) or self._resolve(name, table))
            except (ImportError, AttributeError, TypeError):
                continue
        with self._lock:
            self._provider_errors = (snapshot, tuple(classes))
        return tuple(classes)


_shared: weakref.WeakKeyDictionary[pluggy.PluginManager, ExceptionNames] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def _import(reference: str) -> type[BaseException]:
    module_name, _, attribute = reference.partition(":")
    cls = getattr(importlib.import_module(module_name), attribute)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise TypeError(f"{reference} is not an exception class")
    return cls


def _widest_of_same_name(cls: type[BaseException]) -> type[BaseException]:
    widest = cls
    for base in cls.__mro__[1:]:
        if base.__name__ == cls.__name__ and issubclass(base, BaseException):
            widest = base
    return widest


def builtin_exception_names() -> Mapping[str, Target]:
    """The names the built-in plugin registers: litellm's exception classes and two of Python's."""
    classes = litellm_exception_classes()
    names: dict[str, Target] = {
        name: f"litellm.exceptions:{name}" for name in (classes if classes is not None else LITELLM_EXCEPTIONS)
    }
    names["TimeoutError"] = TimeoutError
    names["ConnectionError"] = ConnectionError
    return names


@functools.cache
def litellm_exception_classes() -> tuple[str, ...] | None:
    """Every exception class the installed litellm defines in ``litellm.exceptions``, read from its source
    without importing it; None when there is no readable source (litellm missing, zipped or compiled)."""
    classes = _source_classes("litellm", "exceptions.py")
    if classes is None:
        return None
    return tuple(sorted(name for name in classes if _source_lineage(name) is not None))


def _missing_from_litellm(name: str) -> str | None:
    release = INTRODUCED.get(name)
    if release is None:
        return None
    try:
        installed = importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        installed = "not installed"
    return (
        f"{name!r} is a litellm exception added in litellm {release}, and the installed litellm is {installed}: "
        f"upgrade it (pip install 'litellm>={release}') or use a name this litellm has."
    )


@functools.cache
def _source_lineage(name: str) -> tuple[str, ...] | None:
    """A litellm exception's lineage from the source of litellm and openai; None if it is not an exception."""
    modules = {
        "litellm": _source_classes("litellm", "exceptions.py"),
        "openai": _source_classes("openai", "_exceptions.py"),
    }
    lineage: list[str] = []
    module, current = "litellm", name
    while True:
        bases = (modules[module] or {}).get(current)
        if bases is None or current.startswith("_"):
            return None
        lineage.append(current)
        base = next(
            (b for b in bases if b.startswith("openai.") or b in _BASE_EXCEPTIONS or b in (modules[module] or {})), None
        )
        if base is None:
            return None
        if base in _BASE_EXCEPTIONS:
            return tuple(dict.fromkeys(lineage))
        if base.startswith("openai."):
            module, current = "openai", base.removeprefix("openai.")
        else:
            current = base


@functools.cache
def _source_classes(package: str, filename: str) -> dict[str, tuple[str, ...]] | None:
    """The classes a package's module defines at top level and their bases as written, by parsing its source."""
    try:
        spec = importlib.util.find_spec(package)
        locations = spec.submodule_search_locations if spec is not None else None
        if not locations:
            return None
        tree = ast.parse((Path(next(iter(locations))) / filename).read_text(encoding="utf-8"))
    except (ImportError, OSError, SyntaxError, ValueError):
        return None
    return {
        node.name: tuple(ast.unparse(base) for base in node.bases)
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }
