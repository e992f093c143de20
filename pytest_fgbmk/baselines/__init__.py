"""Baselines and the regression gate: stored records (``record``), the decision (``gate``),
and the syrupy storage bound to pytest tests (``storage``)."""

from pytest_fgbmk.baselines.gate import BaselineGate, Entry
from pytest_fgbmk.baselines.record import (
    Stored,
    build_record,
    differences,
    dump_record,
    parse_record,
)

__all__ = [
    "BaselineGate",
    "Entry",
    "Stored",
    "build_record",
    "differences",
    "dump_record",
    "parse_record",
]
