"""ProfileStore: finds profile files on a search path and loads each one lazily, only when asked."""

from __future__ import annotations

import difflib
import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from understudy.errors import ProfileError, ProfileNotFoundError, UnknownExceptionNameError
from understudy.failures.names import ExceptionNames
from understudy.plugins import get_plugin_manager
from understudy.profiles.files import file_signature, parse_profile, read_profile_bytes
from understudy.profiles.profile import NAME_PATTERN, PROFILE_SUFFIXES, RESERVED_STEMS, Profile, validate_name
from understudy.profiles.search_path import CONFIG_DIR_ENV, PROFILES_PATH_ENV, default_search_path, user_config_dir

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import pluggy

__all__ = ["CONFIG_DIR_ENV", "PROFILES_PATH_ENV", "ProfileStore", "default_search_path", "user_config_dir"]


class ProfileStore:
    """Profiles on a search path of directories; an earlier directory wins a name.

    Listing names reads no file, and lists only regular files (or links to them). ``load(name)`` reads that
    one file on every call and parses it only when its bytes differ from the last good read. A broken file
    raises ``ProfileError`` for its own name only; every other profile still loads. Names with no file may
    come from plugins (``understudy_load_profile``).

    Write profile files atomically: write a temporary file beside it, then ``os.replace`` it over the old
    one. A file rewritten in place is briefly empty or half-written; a read that fails is retried once, and
    the second read is used if the file changed in between, but a slow writer can still be caught mid-write.

    Args:
        paths: directories to search, in order (default: ``default_search_path()``).
        plugin_manager: where exception names and plugin profiles come from (default: process-wide).
    """

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]] | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> None:
        self.paths: tuple[Path, ...] = (
            tuple(Path(p) for p in paths) if paths is not None else tuple(default_search_path())
        )
        self._pm = plugin_manager or get_plugin_manager()
        self._names = ExceptionNames.of(self._pm)
        self._cache: dict[Path, tuple[tuple[int, ...] | None, bytes, Profile]] = {}
        self._lock = threading.Lock()

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        return self._pm

    def names(self) -> list[str]:
        """Every profile name on the search path and from plugins, sorted. Reads no file."""
        found = set(self._listing())
        for names in self._pm.hook.understudy_profile_names():
            found.update(n for n in names if isinstance(n, str) and NAME_PATTERN.match(n))
        return sorted(found)

    def locate(self, name: str) -> Path | None:
        """The file that defines ``name``, or None when no directory has one.

        Raises:
            ProfileError: one directory has both ``name.toml`` and ``name.json``, or a file cannot be checked.
        """
        for directory in self.paths:
            base = os.path.join(directory, name)  # strings, not Paths: this runs on every call
            hits = [Path(path) for path in (f"{base}{suffix}" for suffix in PROFILE_SUFFIXES) if _exists(path)]
            if hits:
                return _one_file(name, hits)
        return None

    def find_file(self, stem: str, suffixes: Sequence[str] = PROFILE_SUFFIXES) -> Path | None:
        """The first ``stem.toml`` or ``stem.json`` (or ``stem`` + one of ``suffixes``) on the search path, in
        the order of the path, then of ``suffixes`` (router files live beside profiles)."""
        for directory in self.paths:
            for suffix in suffixes:
                candidate = directory / f"{stem}{suffix}"
                if candidate.is_file():
                    return candidate
        return None

    def load(self, name: str) -> Profile:
        """The profile called ``name``, read from its file (parsed again only when it changed) or a plugin.

        Raises:
            ProfileNotFoundError: no file and no plugin has it; says where it looked and close names.
            ProfileError: the file is invalid or is not a regular file; says which file, which field and what
                to do.
        """
        validate_name(name)
        path = self.locate(name)
        if path is None:
            try:
                profile: Profile | None = self._pm.hook.understudy_load_profile(name=name)
            except Exception as exc:
                # A plugin's source being down (a vault, a service) is a load failure of this profile,
                # which a call skips like a broken file, not a reason to abandon the call.
                raise ProfileError(
                    f"the plugin that supplies it failed: {type(exc).__name__}: {exc}", profile=name
                ) from exc
            if profile is None:
                self._refuse_non_file(name)
                close = difflib.get_close_matches(name, self.names(), n=3)
                raise ProfileNotFoundError(name, self.paths, close)
            if not isinstance(profile, Profile):
                raise ProfileError(
                    f"the plugin that supplies it returned a {type(profile).__name__}, not a Profile; its "
                    "understudy_load_profile hook must return a Profile or None",
                    profile=name,
                )
            if profile.name != name:
                raise ProfileError(f"a plugin returned profile {profile.name!r} when asked for it", profile=name)
            self._check_exception_names(profile)
            return profile
        return self._load_file(path)

    def load_all(self, names: Sequence[str] | None = None) -> dict[str, Profile | ProfileError]:
        """Load every profile (or the given ones); a failure is returned in place of its profile.

        The directories are listed once for the whole batch, rather than each name being looked for in turn.
        """
        listing = self._listing()
        result: dict[str, Profile | ProfileError] = {}
        for name in names if names is not None else self.names():
            try:
                files = listing.get(name)
                result[name] = self._load_file(_one_file(name, files)) if files else self.load(name)
            except ProfileError as exc:
                result[name] = exc
        return result

    def _load_file(self, path: Path) -> Profile:
        signature = file_signature(path)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and signature is not None and cached[0] == signature:
            return cached[2]  # the same file, untouched since it was read: no need to read it again
        data = read_profile_bytes(path)
        if cached is not None and cached[1] == data:
            profile = cached[2]
        else:
            try:
                profile = self._parse(path, data)
            except ProfileError:
                # A writer rewriting the file in place may have been caught mid-write: read once more.
                again = read_profile_bytes(path)
                if again == data:
                    raise
                data, profile = again, self._parse(path, again)
                signature = None
        with self._lock:
            self._cache[path] = (signature, data, profile)
        return profile

    def _parse(self, path: Path, data: bytes) -> Profile:
        profile = parse_profile(path, data)
        self._check_exception_names(profile)
        return profile

    def _refuse_non_file(self, name: str) -> None:
        """Raise for a ``name.toml`` or ``name.json`` that is there but is not a file, so the error names it."""
        for directory in self.paths:
            for suffix in PROFILE_SUFFIXES:
                odd = directory / f"{name}{suffix}"
                if os.path.lexists(odd):
                    raise ProfileError(
                        "not a regular file (a directory, a fifo or a broken link); replace it with a profile file "
                        "or remove it",
                        profile=name,
                        path=odd,
                    )

    def _listing(self) -> dict[str, list[Path]]:
        """Each profile file on the search path by name: the first directory that has the name, and both of
        its files when it holds ``name.toml`` and ``name.json``. One ``scandir`` per directory, no ``stat``."""
        listing: dict[str, list[Path]] = {}
        for directory in self.paths:
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            here: dict[str, list[Path]] = {}
            for entry in entries:
                stem, dot, suffix = entry.name.rpartition(".")
                if (
                    dot
                    and f".{suffix}" in PROFILE_SUFFIXES
                    and stem not in listing
                    and stem not in RESERVED_STEMS
                    and NAME_PATTERN.match(stem)
                    and _is_file(entry)
                ):
                    here.setdefault(stem, []).append(Path(entry.path))
            listing.update(here)
        return listing

    def _check_exception_names(self, profile: Profile) -> None:
        for error_name in profile.fallbacks:
            try:
                self._names.check(error_name)
            except UnknownExceptionNameError as exc:
                raise ProfileError(str(exc), profile=profile.name, path=profile.source, field="fallbacks") from None

    def __repr__(self) -> str:
        return f"ProfileStore(paths={[str(p) for p in self.paths]!r})"


def _exists(path: str) -> bool:
    """Whether ``path`` is a regular file or a link to one.

    Raises:
        ProfileError: it cannot be checked (a directory on the path that may not be searched).
    """
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except ValueError:  # a name no file system takes (a NUL byte)
        return False
    except OSError as exc:
        where = Path(path)
        raise ProfileError(f"cannot check the file: {exc.strerror or exc}", profile=where.stem, path=where) from exc


def _one_file(name: str, files: list[Path]) -> Path:
    """The file of ``name`` among those its directory holds; raises when there are two."""
    if len(files) > 1:
        toml, json = sorted(files, key=lambda path: PROFILE_SUFFIXES.index(path.suffix))
        raise ProfileError(
            f"both {toml.name} and {json.name} exist in {toml.parent}; keep one", profile=name, path=toml
        )
    return files[0]


def _is_file(entry: os.DirEntry[str]) -> bool:
    """A regular file, or a link to one: not a directory, a fifo or a dangling link."""
    try:
        return entry.is_file()
    except OSError:
        return False
