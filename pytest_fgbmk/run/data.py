"""The datasets a run measures: the bundled synthetic ones, or those found under a root.

Metadata only (indexes, taxonomy, attributes, splits): no image is decoded here. A run
with nothing to measure is an error, never an all-skipped green run: a data root where no
dataset is found, or a selected dataset that lists no image (or no test image, the split
every case measures), fails at load with what was looked for. The images themselves are
checked later, once the selected cases are known (:func:`image_refs`,
:mod:`pytest_fgbmk.data.verify`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_fgbmk.data.verify import ImageRef
from pytest_fgbmk.errors import ConfigError, DataFormatError
from pytest_fgbmk.run.options import SYNTH_SIZES, RunOptions

if TYPE_CHECKING:
    from pytest_fgbmk.data.records import Dataset, Sample
    from pytest_fgbmk.progress import ProgressOutput


@dataclass
class DataState:
    """The run's datasets after loading: found, missing, and where they came from."""

    datasets: dict[str, Dataset] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    root: Path | None = None
    label: str = ""
    #: True when the datasets are the bundled synthetic ones (``--fgbmk-data`` not given).
    synthetic: bool = False


def load_data(options: RunOptions, *, progress: ProgressOutput | None = None) -> DataState:
    """Load the selected datasets' indexes; raises :class:`ConfigError` naming the option.

    ``progress``: where rendering the bundled synthetic data (first use only) reports.
    """
    state = _load_synthetic(options, progress) if options.data is None else _load_root(options)
    for name, ds in state.datasets.items():
        check_has_images(ds)
        if ds.exif_orientation != options.exif_orientation:
            state.datasets[name] = replace(ds, exif_orientation=options.exif_orientation)
    return state


def check_has_images(ds: Dataset) -> None:
    """Raise :class:`DataFormatError` naming the dataset's folder when it lists no image,
    or no test image (the split every case measures: questions are asked on it, probes
    and retrieval are scored on it)."""
    if not ds.samples:
        raise DataFormatError(
            ds.root,
            f"dataset {ds.name} ({ds.layout or 'its layout'}) lists no image",
            hint="check that its index files and image folders are complete, or leave it "
            "out with --fgbmk-datasets",
        )
    if not ds.split("test"):
        counts = ", ".join(f"{len(ds.split(s))} {s}" for s in ds.splits)
        raise DataFormatError(
            ds.root,
            f"dataset {ds.name} lists no test image ({counts}); every case measures the test split",
            hint="check its split files, or leave it out with --fgbmk-datasets",
        )


def image_refs(pairs: Iterable[tuple[Dataset, Sample]]) -> list[ImageRef]:
    """The image files of (dataset, sample) pairs, each once, for the run's image check.

    Datasets whose pixels are not image files (CIFAR-100's pickles, read at index time)
    have none.
    """
    out: dict[Path, ImageRef] = {}
    seen: set[tuple[str, Path, str]] = set()
    for ds, sample in pairs:
        key = (ds.name, ds.root, sample.path)
        if ds.image_reader is None and key not in seen:  # a question per level, one image
            seen.add(key)
            path = ds.image_path(sample)
            if path not in out:
                out[path] = ImageRef(path, ds.root)
    return list(out.values())


def _load_synthetic(options: RunOptions, progress: ProgressOutput | None) -> DataState:
    from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, load_synthetic

    config = SynthConfig(**SYNTH_SIZES[options.synth])
    root = ensure_synthetic(config, progress=progress)
    loaded = {d.name: d for d in load_synthetic(root)}
    state = DataState(
        root=root, label=f"bundled synthetic, {options.synth} ({root})", synthetic=True
    )
    wanted = options.datasets or tuple(loaded)
    for name in wanted:
        if name not in loaded:
            raise ConfigError(
                f"--fgbmk-datasets: {name!r} is not a bundled synthetic dataset; "
                f"use {', '.join(loaded)} (or pass --fgbmk-data ROOT for real datasets)"
            )
        state.datasets[name] = loaded[name]
    return state


def _load_root(options: RunOptions) -> DataState:
    from pytest_fgbmk.data.discovery import LOADERS, discover

    root = options.data
    assert root is not None
    found = discover(root)
    state = DataState(root=root, label=str(root))
    wanted = options.datasets
    if wanted is None:
        names = sorted(found.found)
    else:
        unknown = [n for n in wanted if n not in LOADERS and n not in found.found]
        if unknown:
            raise ConfigError(
                f"--fgbmk-datasets: unknown dataset {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(LOADERS))}"
            )
        names = list(wanted)
    broken = {n: v for n, v in found.incomplete.items() if wanted is None or n in wanted}
    if broken:
        listed = "\n".join(f"  {n}: {folder}: {why}" for n, (folder, why) in broken.items())
        keep = ", ".join(sorted(found.found)) or "none"
        raise ConfigError(
            f"--fgbmk-data={root}: {len(broken)} dataset folder(s) are there but incomplete, "
            f"so their cases cannot be measured (they would silently drop out of the run):\n"
            f"{listed}\nrestore the missing files, or select the complete datasets with "
            f"--fgbmk-datasets (complete here: {keep})"
        )
    for name in names:
        if name in found.found:
            state.datasets[name] = found.load(name)
        else:
            state.missing[name] = found.missing.get(name, f"not found under {root}")
    if wanted is None:
        state.missing.update({n: r for n, r in found.missing.items() if n not in state.datasets})
    elif state.missing and state.datasets:
        # asked for by name and absent: a data error, not a green run with its cases skipped
        looked = "\n".join(f"  {n}: {r}" for n, r in state.missing.items())
        raise ConfigError(
            f"--fgbmk-datasets: {', '.join(state.missing)} not found under --fgbmk-data={root} "
            f"({len(state.missing)} of the {len(wanted)} datasets asked for), so no case of it "
            f"can be measured. Looked for:\n{looked}\nput it there, or leave it out of "
            f"--fgbmk-datasets (found: {', '.join(state.datasets)})"
        )
    if not state.datasets:
        looked = "\n".join(f"  {n}: {r}" for n, r in state.missing.items())
        asked = f" of {', '.join(wanted)}" if wanted is not None else ""
        raise ConfigError(
            f"--fgbmk-data={root}: no dataset{asked} found, nothing to measure; give the "
            "folder that holds the datasets (e.g. ROOT/CUB_200_2011), or leave the option "
            f"out to use the bundled data. Looked for:\n{looked}"
        )
    return state
