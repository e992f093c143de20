"""Reads a pytester run's JUnit XML: per test case, its properties and its outcome."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def junit(path: Path) -> dict[str, dict[str, str]]:
    """``{case name: {property: value, "_status": outcome, "_message": text if not passed}}``."""
    out = {}
    for tc in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        props["_status"] = "passed"
        for child in tc:
            if child.tag in ("failure", "error", "skipped"):
                props["_status"] = child.tag
                props["_message"] = child.get("message", "") + (child.text or "")
        out[tc.get("name")] = props
    return out
