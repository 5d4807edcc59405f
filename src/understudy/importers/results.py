"""What an import gives back (the profiles, the TOML text of each, and warnings), and what it has found
while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from understudy.errors import ConfigError

if TYPE_CHECKING:
    from understudy.profiles import Profile

__all__ = ["ImportResult", "ImportedProfile"]


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
        warnings: what was renamed, left out or approximated, each naming where in the config; never a secret.
    """

    source: str
    profiles: tuple[ImportedProfile, ...]
    warnings: tuple[str, ...]

    def files(self) -> dict[str, str]:
        """File name to TOML text, in ``model_list`` order."""
        return {imported.filename: imported.toml for imported in self.profiles}

    def key_variables(self) -> list[str]:
        """The ``api_key_env`` variables the profiles read, sorted: what to export before using them."""
        return sorted({p.profile.api_key_env for p in self.profiles if p.profile.api_key_env})


@dataclass
class Notes:
    """What one import has found so far: warnings (what was renamed, left out or approximated, each naming
    where in the config; never a secret) and problems, which stop it.

    Attributes:
        source: the config, as messages name it.
    """

    source: str
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: {message}" if where else message)

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def raise_problems(self) -> None:
        """Raise ``ConfigError`` naming the config and every problem found so far, if any."""
        if len(self.problems) == 1:
            raise ConfigError(f"{self.source}: {self.problems[0]}")
        if self.problems:
            raise ConfigError(f"{self.source}: {len(self.problems)} problems: {'; '.join(self.problems)}")
