"""Datasets: one module per on-disk layout, all producing :class:`records.Dataset`.

Each loader module exposes:

* ``NAME``: the dataset key (``"cub"``, ``"inat2021"`` …), used in test ids and options;
* ``META``: its meta-category (``"bird"``, ``"dog"``, ``"car"`` …);
* ``FOLDERS``: folder names under a data root where discovery looks for it;
* ``load(root: Path) -> Dataset``: read the index (metadata only, no image decoded);
* ``probe(root: Path) -> str | None``: ``None`` when the layout is present exactly at
  ``root``, else a short text naming the file that was looked for and not found.

Display names (category names and taxonomy entries) are written as a person writes them:
no numeric prefixes, no underscores ("black footed albatross", "Rosa majalis").
"""
