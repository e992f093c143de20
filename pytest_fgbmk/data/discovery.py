"""Finding which datasets are under a data root, and loading one by name.

Every loader module is tried at ``root/<folder>`` for each of its ``FOLDERS`` and at
``root`` itself; :func:`discover` reports where each dataset was found and, for each
absent one, what file was looked for and where.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from pytest_fgbmk.data.records import Dataset
from pytest_fgbmk.errors import ConfigError, DataFormatError, shown_path

#: Loader modules, in the order the paper lists the datasets.
LOADER_MODULES = (
    "cub",
    "stanford_dogs",
    "stanford_cars",
    "aircraft",
    "flowers102",
    "food101",
    "inat2021",
    "vegfru",
    "products10k",
    "deepfashion",
    "skincon",
    "wine",
    "cifar100",
    "release",
    "generic",
)


def _import_loaders() -> tuple[dict[str, ModuleType], dict[str, str]]:
    loaders: dict[str, ModuleType] = {}
    unavailable: dict[str, str] = {}
    for mod_name in LOADER_MODULES:
        try:
            mod = importlib.import_module(f"pytest_fgbmk.data.{mod_name}")
        except ModuleNotFoundError as e:
            if e.name != f"pytest_fgbmk.data.{mod_name}":
                raise
            unavailable[mod_name] = f"loader module pytest_fgbmk.data.{mod_name} is not installed"
            continue
        loaders[mod.NAME] = mod
    return loaders, unavailable


#: Dataset name → loader module (only the modules that import).
LOADERS, UNAVAILABLE = _import_loaders()


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found: name → folder, and name → what was looked for, where."""

    root: Path
    found: dict[str, Path] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    #: name → (its own folder, what is missing there): the dataset's folder exists under
    #: the root (``root/cub``) but its layout is incomplete (a split file deleted).
    incomplete: dict[str, tuple[Path, str]] = field(default_factory=dict)

    def describe(self) -> str:
        """A few lines for the terminal: found datasets, then each absent one and why."""
        lines = [f"datasets under {self.root}:"]
        lines += [f"  {n}: {p}" for n, p in self.found.items()]
        lines += [
            f"  {n}: INCOMPLETE at {folder} ({why})" for n, (folder, why) in self.incomplete.items()
        ]
        lines += [
            f"  {n}: not found ({why})"
            for n, why in self.missing.items()
            if n not in self.incomplete
        ]
        return "\n".join(lines)


def candidate_folders(root: Path, module: ModuleType) -> list[Path]:
    """Where a loader's layout is looked for: ``root/<f>`` for its FOLDERS, then ``root``."""
    return [root / f for f in module.FOLDERS] + [root]


def discover(root: Path, names: tuple[str, ...] | None = None) -> Discovery:
    """Probe every loader (or just ``names``) under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"data root {root} is not a folder")
    found: dict[str, Path] = {}
    missing: dict[str, str] = {}
    incomplete: dict[str, tuple[Path, str]] = {}
    for name in names or tuple(LOADERS):
        mod = _module(name)
        tried = []
        for folder in candidate_folders(root, mod):
            if not folder.is_dir():
                continue
            why = _probe(mod, folder)
            if why is None:
                found[name] = folder
                break
            tried.append(why)
            if folder != root and name not in incomplete:
                incomplete[name] = (folder, why)
        else:
            subs = ", ".join(f"{f}/" for f in mod.FOLDERS)
            detail = tried[0] if tried else f"none of {subs} under {root}"
            missing[name] = f"looked for {detail}; also tried {subs} under {root}"
    if names is None:
        for mod_name, why in UNAVAILABLE.items():
            missing[mod_name] = why
    incomplete = {n: v for n, v in incomplete.items() if n not in found}
    return Discovery(root, found, missing, incomplete)


def _module(name: str) -> ModuleType:
    mod = LOADERS.get(name)
    if mod is None:
        known = ", ".join(sorted(LOADERS))
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {known}")
    return mod


def _probe(mod: ModuleType, folder: Path) -> str | None:
    """``mod.probe(folder)``; a file it could not read (the OS refused it, or it is not
    UTF-8) is what was found wanting, never a traceback."""
    try:
        return mod.probe(folder)
    except (OSError, UnicodeError) as exc:
        return f"a readable layout in {shown_path(folder)} ({shown_path(str(exc))})"


def load_found(name: str, folder: Path) -> Dataset:
    """Load dataset ``name`` from the folder its probe accepted. What a loader does not catch
    itself (an index file the OS will not let us read, a name or file that is not UTF-8)
    becomes a :class:`DataFormatError` naming the file (or the folder when the OS names
    none) and what to do."""
    try:
        return _module(name).load(folder)
    except OSError as exc:
        where = exc.filename if exc.filename is not None else folder
        raise DataFormatError(
            where,
            f"dataset {name}: cannot be read: {exc.strerror or type(exc).__name__}",
            hint="make it readable by the user running the tests, then rerun",
        ) from None
    except UnicodeError as exc:
        raise DataFormatError(
            folder,
            f"dataset {name}: a file or file name is not UTF-8 ({shown_path(str(exc))})",
            hint="convert its index files and names to UTF-8, then rerun",
        ) from None


def load_dataset(name: str, root: Path) -> Dataset:
    """Load dataset ``name`` from ``root`` (its own folder, or a data root holding it)."""
    mod = _module(name)
    root = Path(root)
    for folder in [root] + [root / f for f in mod.FOLDERS]:
        if folder.is_dir() and _probe(mod, folder) is None:
            return load_found(name, folder)
    return load_found(name, root)
