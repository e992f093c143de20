"""What the report shows of a case, shared by the writer and the HTML page: where an
image's thumbnail lives in the report folder and which flipped questions are listed.

It sits below both :mod:`pytest_fgbmk.report.writer` and :mod:`pytest_fgbmk.report.html`
so that neither imports the other's module for these (the HTML page is built by the writer).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from pytest_fgbmk.report.results import CaseResult

THUMBS = "thumbs"
#: Flipped (right → wrong) questions the report shows per regressed case.
FLIPPED_SHOWN = 5


def thumbnail_name(dataset: str, image: str) -> str:
    """The thumbnail's path inside the report folder for a dataset's image."""
    digest = hashlib.sha1(f"{dataset}\0{image}".encode()).hexdigest()[:20]
    return f"{THUMBS}/{digest}.jpg"


def flipped_ids(case: CaseResult) -> list[str]:
    """The question ids of a case that flipped right → wrong against its stored baseline."""
    flipped = case.details.get("flipped")
    if not isinstance(flipped, Mapping):
        return []
    return [str(i) for i in flipped.get("ids") or ()]
