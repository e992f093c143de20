"""Finding which datasets are under a data root, and loading one by name.

Every loader module is tried at ``root/<folder>`` for each of its ``FOLDERS`` and at
``root`` itself; :func:`discover` reports where each dataset was found and, for each
absent one, what file was looked for and where. Datasets in the release's split layout are
also found one folder down, each under its folder's name (the release's
``machine-oriented/cub``, ``machine-oriented/skincon``: give ``machine-oriented/`` or the
folder above it).
"""

from __future__ import annotations

import importlib
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from pytest_fgbmk.data.records import Dataset, Sample
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
#: The loader of the release's split layout (``classes.txt`` + ``train.csv``/``test.csv``).
RELEASE = "fgbmk_release"


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found: name → folder, and name → what was looked for, where."""

    root: Path
    found: dict[str, Path] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    #: name → (its own folder, what is missing there): the dataset's folder exists under
    #: the root (``root/cub``) but its layout is incomplete (a split file deleted).
    incomplete: dict[str, tuple[Path, str]] = field(default_factory=dict)
    #: name → the loader that reads it, for a dataset found in another loader's layout (a
    #: release split folder one level down: ``"cub" → "fgbmk_release"``).
    layouts: dict[str, str] = field(default_factory=dict)

    def load(self, name: str) -> Dataset:
        """Load found dataset ``name`` with the loader of the layout it was found in.

        Raises :class:`KeyError` for a name not in :attr:`found`.
        """
        return load_found(name, self.found[name], self.layouts.get(name))

    def describe(self) -> str:
        """A few lines for the terminal: found datasets, then each absent one and why."""
        lines = [f"datasets under {self.root}:"]
        lines += [
            f"  {n}: {p}" + (" (release split layout)" if n in self.layouts else "")
            for n, p in self.found.items()
        ]
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


def release_folders(root: Path) -> dict[str, Path]:
    """Datasets in the release's split layout one folder below ``root`` or below its
    ``machine-oriented/`` (``release/``, ``fgbmk_release/``) folder: lower-cased folder
    name → folder, the first found for a name."""
    release = LOADERS.get(RELEASE)
    if release is None:
        return {}
    out: dict[str, Path] = {}
    for base in candidate_folders(Path(root), release):
        if not base.is_dir():
            continue
        try:
            subs = sorted(p for p in base.iterdir() if p.is_dir())
        except OSError:
            continue
        for sub in subs:
            if release.probe(sub) is None:
                out.setdefault(sub.name.lower(), sub)
    return out


def discover(root: Path, names: tuple[str, ...] | None = None) -> Discovery:
    """Probe every loader (or just ``names``) under ``root``, then the release's split
    layout one folder down (:func:`release_folders`), each under its folder's name unless a
    loader of that name found its own layout."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"data root {root} is not a folder")
    found: dict[str, Path] = {}
    missing: dict[str, str] = {}
    incomplete: dict[str, tuple[Path, str]] = {}
    below = release_folders(root)
    for name in names or tuple(LOADERS):
        if name not in LOADERS and name in below:
            continue
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
    layouts: dict[str, str] = {}
    for name, folder in below.items():
        if name in found or (names is not None and name not in names):
            continue
        found[name], layouts[name] = folder, RELEASE
        missing.pop(name, None)
        incomplete.pop(name, None)
    if layouts:  # the release's folder holds datasets, it is not one with files missing
        missing.pop(RELEASE, None)
        incomplete.pop(RELEASE, None)
    incomplete = {n: v for n, v in incomplete.items() if n not in found}
    return Discovery(root, found, missing, incomplete, layouts)


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


def load_found(name: str, folder: Path, layout: str | None = None) -> Dataset:
    """Load dataset ``name`` from the folder its probe accepted (with the loader of
    ``layout`` when it was found in another loader's layout: the release's split folders).
    What a loader does not catch itself (an index file the OS will not let us read, a name
    or file that is not UTF-8) becomes a :class:`DataFormatError` naming the file (or the
    folder when the OS names none) and what to do."""
    try:
        if layout is not None:
            dataset = LOADERS[layout].load(folder, name=name)
        else:
            dataset = _module(name).load(folder)
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
    check_one_sample_per_file(dataset, folder)
    check_distinct_facets(dataset, folder)
    return dataset


def facet_key(name: str) -> str:
    """How a taxonomy level or attribute group is written in a case id (``questions/cases``)."""
    return name.replace(" ", "_")


def check_distinct_facets(dataset: Dataset, folder: Path) -> None:
    """Raise :class:`DataFormatError` when an attribute group and a taxonomy level of
    ``dataset`` have one name (as a case id writes it): their attribute and granularity
    cases would share an id ("skincon-concept-tf"), so one case's questions and results
    would stand for the other's."""
    levels = {facet_key(level): level for level in dataset.levels}
    for group in dataset.attribute_groups:
        level = levels.get(facet_key(group.name))
        if level is not None:
            raise DataFormatError(
                folder,
                f"dataset {dataset.name}: attribute group {group.name!r} and taxonomy level "
                f"{level!r} have the same name, so their cases would share one id",
                hint="rename the attribute group or the level in the dataset's index files",
            )


def check_one_sample_per_file(dataset: Dataset, folder: Path) -> None:
    """Raise :class:`DataFormatError` when two samples of ``dataset`` are the same image
    file (two ids of an index pointing at one path, "a/b.jpg" and "a/./b.jpg" alike): its
    questions would be asked twice under two ids. Every loader's own index checks name the
    line; this catches what a layout's checks cannot see, for every layout."""
    seen: dict[str, Sample] = {}
    for sample in dataset.samples:
        key = posixpath.normpath(sample.path)
        first = seen.setdefault(key, sample)
        if first is not sample:
            raise DataFormatError(
                folder,
                f"dataset {dataset.name}: samples {first.id!r} ({first.split}) and "
                f"{sample.id!r} ({sample.split}) are the same image file {key!r}",
                hint="an index file lists this image twice; keep one entry, then rerun",
            )


def load_dataset(name: str, root: Path) -> Dataset:
    """Load dataset ``name`` from ``root`` (its own folder, or a data root holding it, in
    its own layout or the release's split layout one folder down)."""
    root = Path(root)
    below = release_folders(root)
    if name not in LOADERS and name in below:
        return load_found(name, below[name], RELEASE)
    mod = _module(name)
    for folder in [root] + [root / f for f in mod.FOLDERS]:
        if folder.is_dir() and _probe(mod, folder) is None:
            return load_found(name, folder)
    if name in below:
        return load_found(name, below[name], RELEASE)
    return load_found(name, root)
