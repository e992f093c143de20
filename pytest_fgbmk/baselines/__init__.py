"""Baselines and the regression gate: stored records (``record``), where they live
(``store``) and the decision (``gate``). No pytest here; the syrupy binding is in
:mod:`pytest_fgbmk.pytest_plugin.snapshot`."""

from pytest_fgbmk.baselines.gate import BaselineGate, Entry, Verdict, sanity_verdict
from pytest_fgbmk.baselines.record import (
    Stored,
    build_record,
    differences,
    dump_record,
    parse_record,
)
from pytest_fgbmk.baselines.store import BaselineStore

__all__ = [
    "BaselineGate",
    "BaselineStore",
    "Entry",
    "Stored",
    "Verdict",
    "build_record",
    "differences",
    "dump_record",
    "parse_record",
    "sanity_verdict",
]
