"""The exception names a fallback table may use, and the classes they stand for.

Names come from plugins (``understudy_exception_names``); the built-in plugin registers every exception
litellm exports plus Python's ``TimeoutError`` and ``ConnectionError``. A name maps to a class or to a
``"module:Class"`` reference that is imported only when an error must be matched, so checking a profile
never imports litellm. Dotted paths written in profile files are never imported: only registered names
resolve.
"""

from __future__ import annotations

import importlib
import threading
import weakref
from typing import TYPE_CHECKING, Final

from understudy.errors import UnknownExceptionNameError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pluggy

__all__ = ["LITELLM_EXCEPTIONS", "WILDCARD", "ExceptionNames"]

WILDCARD: Final = "*"

# Every exception class litellm exports from litellm.exceptions. Static, so that checking profiles never
# imports litellm; tests/test_exception_names.py fails when the installed litellm exports one not listed.
LITELLM_EXCEPTIONS: Final = (
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "BudgetExceededError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "ImageFetchError",
    "InternalServerError",
    "InvalidRequestError",
    "JSONSchemaValidationError",
    "LiteLLMUnknownProvider",
    "MockException",
    "ModelNotMappedError",
    "NotFoundError",
    "OpenAIError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "Timeout",
    "UnprocessableEntityError",
    "UnsupportedParamsError",
    "VectorStoreSearchError",
)

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
            raise UnknownExceptionNameError(name, self.known())
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

    def _resolve(self, name: str, table: dict[str, Target]) -> type[BaseException]:
        target = table.get(name)
        if target is None:
            raise UnknownExceptionNameError(name, self.known())
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
    """The names the built-in plugin registers."""
    names: dict[str, Target] = {name: f"litellm:{name}" for name in LITELLM_EXCEPTIONS}
    # Raised while iterating a stream; litellm does not export it at the top level.
    names["MidStreamFallbackError"] = "litellm.exceptions:MidStreamFallbackError"
    names["TimeoutError"] = TimeoutError
    names["ConnectionError"] = ConnectionError
    return names
