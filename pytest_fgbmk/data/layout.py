"""Helpers the dataset loaders share: where a layout sits, what it lacks, samples of a class."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pytest_fgbmk.data.records import Annotation, Category, Sample


def resolve_root(root: Path, marker: str | Path, folders: Iterable[str]) -> Path:
    """The folder holding ``marker``: ``root`` itself, else the first ``root/<folder>`` with it.

    ``root`` (as a :class:`Path`) when neither holds it, so the caller reports what is missing.
    """
    root = Path(root)
    if not (root / marker).is_file():
        for sub in folders:
            if (root / sub / marker).is_file():
                return root / sub
    return root


def missing_file(base: Path, names: Iterable[str | Path], label: str) -> str | None:
    """``"<label>: <base/name> not found"`` for the first of ``names`` not a file under ``base``."""
    for name in names:
        if not (base / name).is_file():
            return f"{label}: {base / name} not found"
    return None


def category_sample(
    cat: Category,
    id: str,
    path: str,
    split: str,
    meta: str,
    annotations: tuple[Annotation, ...] = (),
    labels: tuple[int, ...] = (),
) -> Sample:
    """A :class:`Sample` of class ``cat``: its index, name and taxonomy.

    For a multi-label sample ``cat`` is the first of ``labels``.
    """
    return Sample(
        id=id,
        path=path,
        category=cat.index,
        category_name=cat.name,
        split=split,
        taxonomy=cat.taxonomy,
        annotations=annotations,
        meta=meta,
        labels=labels,
    )
