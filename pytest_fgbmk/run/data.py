"""The datasets a run measures: the bundled synthetic ones, or those found under a root.

Metadata only (indexes, taxonomy, attributes, splits): no image is decoded here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.run.options import SYNTH_SIZES, RunOptions

if TYPE_CHECKING:
    from pytest_fgbmk.data.records import Dataset
    from pytest_fgbmk.progress import ProgressOutput


@dataclass(frozen=True)
class MissingDataset:
    """A dataset the user asked for that is not under the data root (its cases skip)."""

    name: str
    reason: str


@dataclass
class DataState:
    """The run's datasets after loading: found, missing, and where they came from."""

    datasets: dict[str, Dataset] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    root: Path | None = None
    label: str = ""
    #: True when the datasets are the bundled synthetic ones (``--fgbmk-data`` not given).
    synthetic: bool = False

    def missing_asked(self, options: RunOptions) -> list[MissingDataset]:
        """Datasets asked for by name but absent (one skipped placeholder each)."""
        if options.datasets is None:
            return []
        return [MissingDataset(n, r) for n, r in self.missing.items()]


def load_data(options: RunOptions, *, progress: ProgressOutput | None = None) -> DataState:
    """Load the selected datasets' indexes; raises :class:`ConfigError` naming the option.

    ``progress``: where rendering the bundled synthetic data (first use only) reports.
    """
    if options.data is None:
        return _load_synthetic(options, progress)
    return _load_root(options)


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
        unknown = [n for n in wanted if n not in LOADERS]
        if unknown:
            raise ConfigError(
                f"--fgbmk-datasets: unknown dataset {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(LOADERS))}"
            )
        names = list(wanted)
    for name in names:
        if name in found.found:
            state.datasets[name] = LOADERS[name].load(found.found[name])
        else:
            state.missing[name] = found.missing.get(name, f"not found under {root}")
    if wanted is None:
        state.missing.update({n: r for n, r in found.missing.items() if n not in state.datasets})
    return state
