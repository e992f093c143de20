"""Datasets: one module per on-disk layout, all producing :class:`records.Dataset`.

Each loader module exposes ``NAME`` (the dataset key, e.g. ``"cub"``), ``META`` (its
meta-category), ``load(root: Path) -> Dataset`` and ``probe(root: Path) -> str | None``
(``None`` when the layout is present under ``root``, else what file was looked for).
"""
