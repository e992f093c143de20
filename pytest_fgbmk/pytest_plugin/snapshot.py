"""The syrupy binding: baselines written through syrupy's extension API, scoped to our files.

:class:`BaselineExtension` is a syrupy single-file extension storing one JSON file per case
under ``baselines/<alias>/<test module>/<test name>.json`` (the layout of
:class:`~pytest_fgbmk.baselines.store.BaselineStore`), so ``-n N`` writes the same files as
one process. Writing (``--fgbmk-update-baselines`` or syrupy's ``--snapshot-update``) goes
through a snapshot assertion whose ``update_snapshots`` is set for our extension only: no
syrupy option is changed, so a user's own snapshots in the same run behave as they would
without this plugin. Comparing with a baseline is the gate's job, not syrupy's: in check
mode the run reads the files itself. Baselines no case of the run maps to are reported by
the plugin's summary (a warning, never a failure: a subset of datasets leaves some unused),
so the extension discovers none for syrupy's unused-snapshot accounting (which would fail
the run or delete them).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from syrupy.data import SnapshotCollections
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation

from pytest_fgbmk.baselines.record import dump_record
from pytest_fgbmk.baselines.store import BaselineStore
from pytest_fgbmk.errors import DataFormatError


class BaselineExtension(SingleFileSnapshotExtension):
    """JSON baselines under ``<root>/<alias>/<test module>/``; subclassed per run."""

    file_extension = "json"
    _write_mode = WriteMode.TEXT
    root = "baselines"
    alias = "default"

    def read_snapshot_data_from_location(
        self, *, snapshot_location: str, snapshot_name: str, session_id: str
    ) -> str | None:
        """The baseline's text; None (no baseline: syrupy writes one) when there is none or
        it cannot be read as text (not UTF-8, a folder in its place …: see
        :meth:`BaselineStore.read`), so an update overwrites a corrupt file. syrupy's own
        reader raised ``UnicodeDecodeError`` there, which its assertion swallowed."""
        try:
            return BaselineStore.read(Path(snapshot_location))
        except DataFormatError:
            return None

    def serialize(self, data: Any, **kwargs: Any) -> str:
        return dump_record(data) if isinstance(data, dict) else str(data)

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(Path(cls.root) / cls.alias / test_location.basename)

    def discover_snapshots(
        self, *, test_location: PyTestLocation, ignore_extensions: list[str] | None = None
    ) -> SnapshotCollections:
        # Unused baselines are the plugin's to report (see the module docstring).
        return SnapshotCollections()


def extension_for(store: BaselineStore) -> type[BaselineExtension]:
    """The extension class storing under ``store.root/store.alias``."""
    attrs = {"root": str(store.root), "alias": store.alias}
    return type("FgbmkBaselineExtension", (BaselineExtension,), attrs)


def baseline_path(extension: type[BaselineExtension], item: pytest.Item) -> Path:
    """Where syrupy keeps the baseline of ``item``."""
    return Path(extension.get_location(test_location=PyTestLocation(item), index=0))


def write_baseline(
    request: pytest.FixtureRequest, extension: type[BaselineExtension], record: dict[str, Any]
) -> str:
    """Write ``record`` as the test's baseline through syrupy; ``written`` or ``unchanged``.

    A corrupt or undecodable file is overwritten and an empty folder in its place removed.
    :class:`DataFormatError` naming the file: a folder holding files is there
    (:meth:`BaselineStore.make_room`), or syrupy could not write it (with its reason).
    """
    snapshot = request.getfixturevalue("snapshot").use_extension(extension)
    writer = dataclasses.replace(snapshot, update_snapshots=True)
    path = baseline_path(extension, request.node)
    try:
        before = BaselineStore.read(path)
    except DataFormatError:
        before = None
        BaselineStore.make_room(path)
    written = writer == record  # syrupy's assertion: compares, then writes
    if not written:
        results = writer.executions
        exc = results[max(results)].exception if results else None
        why = f"{type(exc).__name__}: {exc}" if exc is not None else "no reason given"
        raise DataFormatError(path, f"syrupy could not write this baseline ({why})")
    return "unchanged" if before == dump_record(record) else "written"
