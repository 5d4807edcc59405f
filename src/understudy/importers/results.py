"""What an import gives back (the profiles, the TOML text of each, and warnings), and what it has found
while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from understudy.errors import ConfigError

if TYPE_CHECKING:
    from understudy.profiles.profile import Profile

__all__ = ["ImportNote", "ImportRefusedError", "ImportResult", "ImportedProfile"]


@dataclass(frozen=True)
class ImportNote:
    """One warning or problem of an import, and where in the config it is.

    Attributes:
        where: the place in the config, e.g. ``"model_list[2] ('claude-sonnet')"``; empty for the whole config.
        message: what was renamed, left out, approximated or is wrong; never a secret.
    """

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass(frozen=True)
class ImportedProfile:
    """One profile made from one ``model_list`` entry.

    Attributes:
        profile: the validated profile (``source`` is None until a file is written).
        toml: the text of its file, which loads back as the same profile.
        index: the entry's index in ``model_list``.
    """

    profile: Profile
    toml: str
    index: int

    @property
    def filename(self) -> str:
        return f"{self.profile.name}.toml"


@dataclass(frozen=True)
class ImportResult:
    """What an import produced.

    Attributes:
        source: the config it came from, as messages name it.
        profiles: one per imported ``model_list`` entry, in ``model_list`` order.
        notes: the warnings, each with its place in the config.
    """

    source: str
    profiles: tuple[ImportedProfile, ...]
    notes: tuple[ImportNote, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """What was renamed, left out or approximated, each naming where in the config; never a secret."""
        return tuple(str(note) for note in self.notes)

    def files(self) -> dict[str, str]:
        """File name to TOML text, in ``model_list`` order."""
        return {imported.filename: imported.toml for imported in self.profiles}

    def key_variables(self) -> list[str]:
        """The ``api_key_env`` variables the profiles read, sorted: what to export before using them."""
        return sorted({p.profile.api_key_env for p in self.profiles if p.profile.api_key_env})

    def endpoint_variables(self) -> list[str]:
        """The ``api_base_env`` variables the profiles read their endpoint from, sorted."""
        return sorted({name for p in self.profiles if (name := getattr(p.profile, "api_base_env", None))})


class ImportRefusedError(ConfigError):
    """The config cannot be imported; nothing was converted.

    Attributes:
        source: the config, as messages name it.
        problems: every problem found, each with its place in the config.
    """

    def __init__(self, source: str, problems: tuple[ImportNote, ...]) -> None:
        self.source = source
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"{source}: {problems[0]}")
        else:
            super().__init__(f"{source}: {len(problems)} problems: {'; '.join(str(p) for p in problems)}")


@dataclass
class Notes:
    """What one import has found so far: warnings (what was renamed, left out or approximated, each naming
    where in the config; never a secret) and problems, which stop it.

    Attributes:
        source: the config, as messages name it.
    """

    source: str
    warnings: list[ImportNote] = field(default_factory=list)
    problems: list[ImportNote] = field(default_factory=list)

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(ImportNote(where, message))

    def problem(self, where: str, message: str) -> None:
        self.problems.append(ImportNote(where, message))

    def raise_problems(self) -> None:
        """Raise ``ImportRefusedError`` naming the config and every problem found so far, if any."""
        if self.problems:
            raise ImportRefusedError(self.source, tuple(self.problems))
