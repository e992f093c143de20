"""Synthetic birds written in the CUB-200-2011 layout, plus a sidecar for the extra levels.

Levels: class (``aves``) → order → family → genus → species. Siblings differ in one or two
attributes: orders in bill shape and size, families in tail shape and wing pattern,
genera in wing colour and bill length, species in breast and crown colour. Species are
named as a person writes a bird (``black capped crimson finchlet``), the last word being
the genus, so CUB's class → genus → species rule holds. CUB cannot hold order and family:
they go to ``synth_taxonomy.json`` beside ``images.txt``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pytest_fgbmk.data.records import CERTAINTY_DEFINITELY
from pytest_fgbmk.data.synth_design import (
    Drawn,
    LevelSpec,
    SpeciesDesign,
    design,
    invented_stems,
)
from pytest_fgbmk.data.synth_render import BIRD_BILL_LENGTHS, BIRD_SIZES, COLORS, render_bird

META = "bird"
LEVELS = ("class", "order", "family", "genus", "species")
SIDECAR = "synth_taxonomy.json"
CLASS_NAME = "aves"

_COLOR_VALUES = tuple(COLORS)
#: Attribute groups in CUB's ``has_<group>::<value>`` order, with their kinds.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("bill shape", "shape", ("curved (up or down)", "dagger", "hooked", "needle", "spatulate", "all-purpose", "cone")),
    ("wing color", "colour", _COLOR_VALUES),
    ("breast color", "colour", _COLOR_VALUES),
    ("tail shape", "shape", ("forked tail", "rounded tail", "notched tail", "fan-shaped tail", "pointed tail", "squared tail")),
    ("bill length", "length", tuple(BIRD_BILL_LENGTHS)),
    ("size", "size", tuple(BIRD_SIZES)),
    ("wing pattern", "pattern", ("solid", "spotted", "striped", "multi-colored")),
    ("crown color", "colour", _COLOR_VALUES),
)  # fmt: skip
_VOCAB = {name: values for name, _, values in GROUPS}

DESIGN_LEVELS = (
    LevelSpec("order", (("bill shape", _VOCAB["bill shape"]), ("size", _VOCAB["size"]))),
    LevelSpec("family", (("tail shape", _VOCAB["tail shape"]), ("wing pattern", _VOCAB["wing pattern"]))),
    LevelSpec("genus", (("wing color", _COLOR_VALUES), ("bill length", _VOCAB["bill length"]))),
    LevelSpec("species", (("breast color", _COLOR_VALUES), ("crown color", _COLOR_VALUES))),
)  # fmt: skip

#: Breast colour → the adjective in a species name ("crimson" for a red breast).
BREAST_WORDS = {
    "blue": "azure", "brown": "umber", "purple": "violet", "rufous": "russet", "grey": "ashy",
    "yellow": "golden", "olive": "mossy", "green": "jade", "pink": "rosy", "orange": "amber",
    "black": "sooty", "white": "snowy", "red": "crimson", "buff": "tawny",
}  # fmt: skip
_GENUS_ROOTS = (
    "finch", "wren", "thrush", "lark", "pipit", "shrike", "vireo", "robin", "swift", "plover",
    "heron", "tern", "kite", "oriole", "bunting", "sparrow", "martin", "dove", "jay", "crake",
    "grebe", "petrel", "bulbul", "babbler", "drongo", "myna", "pitta", "tody", "barbet", "trogon",
)  # fmt: skip
_GENUS_SUFFIXES = ("let", "ling", "kin", "wing")


def cub_token(text: str) -> str:
    """A display value as CUB writes it: spaces become underscores."""
    return text.replace(" ", "_")


def species_designs(n_species: int) -> list[SpeciesDesign]:
    return design(DESIGN_LEVELS, n_species, seed=(20_250, 1))


def taxonomy(designs: list[SpeciesDesign]) -> list[tuple[str, ...]]:
    """The (class, order, family, genus, species) names of every designed species."""
    n_genus = max(d.path[2] for d in designs) + 1
    n_family = max(d.path[1] for d in designs) + 1
    n_order = max(d.path[0] for d in designs) + 1
    names = [r + s for s in _GENUS_SUFFIXES for r in _GENUS_ROOTS]
    rng = np.random.default_rng([20_250, 2])
    genera = [names[int(i)] for i in rng.permutation(len(names))[:n_genus]]
    stems = invented_stems(n_family + n_order, seed=(20_250, 3))
    families = [s + "idae" for s in stems[:n_family]]
    orders = [s + "iformes" for s in stems[n_family:]]
    out = []
    for d in designs:
        a = d.attributes
        o, f, g, _ = d.path
        species = f"{a['crown color']} capped {BREAST_WORDS[a['breast color']]} {genera[g]}"
        out.append((CLASS_NAME, orders[o], families[f], genera[g], species))
    return out


def class_folder(index: int, species: str) -> str:
    """CUB's class folder name: ``001.Black_capped_Crimson_Finchlet``."""
    words = species.split()
    shown = [words[0].capitalize()]
    for w in words[1:]:
        shown.append(w if w == "capped" else w.capitalize())
    return f"{index + 1:03d}.{'_'.join(shown)}"


def write_cub(
    dest: Path,
    n_species: int,
    images_per_species: int,
    n_train: int,
    size: int,
    seed: int,
    on_image: Callable[[], None],
) -> list[Drawn]:
    """Render the birds into ``dest`` in the CUB-200-2011 layout; return what was drawn."""
    designs = species_designs(n_species)
    taxa = taxonomy(designs)
    (dest / "attributes").mkdir(parents=True)
    attr_ids: dict[tuple[str, str], int] = {}
    lines_attr = []
    for group, _, values in GROUPS:
        for v in values:
            attr_ids[(group, v)] = len(attr_ids) + 1
            lines_attr.append(f"{len(attr_ids)} has_{cub_token(group)}::{cub_token(v)}")
    classes, images, labels, splits, attr_labels = [], [], [], [], []
    image_id = 0
    drawn: list[Drawn] = []
    for d, taxon in zip(designs, taxa, strict=True):
        folder = class_folder(d.index, taxon[-1])
        classes.append(f"{d.index + 1} {folder}")
        (dest / "images" / folder).mkdir(parents=True)
        file_stem = "_".join(w.capitalize() for w in taxon[-1].split())
        present = {attr_ids[item] for item in d.look}
        for k in range(images_per_species):
            image_id += 1
            rel = f"{folder}/{file_stem}_{k + 1:04d}_{image_id}.jpg"
            rng = np.random.default_rng([seed, 1, d.index, k])
            render_bird(d.attributes, rng, size).save(dest / "images" / rel, quality=90)
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {d.index + 1}")
            splits.append(f"{image_id} {1 if k < n_train else 0}")
            drawn.append(Drawn(f"images/{rel}", d.index, "train" if k < n_train else "test"))
            seconds = rng.uniform(2.0, 40.0, len(attr_ids))
            for aid in range(1, len(attr_ids) + 1):
                flag = 1 if aid in present else 0
                attr_labels.append(
                    f"{image_id} {aid} {flag} {CERTAINTY_DEFINITELY} {seconds[aid - 1]:.3f}"
                )
            on_image()
    _write(dest / "classes.txt", classes)
    _write(dest / "images.txt", images)
    _write(dest / "image_class_labels.txt", labels)
    _write(dest / "train_test_split.txt", splits)
    _write(dest / "attributes.txt", lines_attr)
    _write(dest / "attributes" / "image_attribute_labels.txt", attr_labels)
    _write(
        dest / "attributes" / "certainties.txt",
        ["1 not visible", "2 guessing", "3 probably", "4 definitely"],
    )
    sidecar = {
        "levels": list(LEVELS),
        "categories": {t[-1]: list(t) for t in taxa},
        "attribute_kinds": {name: kind for name, kind, _ in GROUPS},
    }
    (dest / SIDECAR).write_text(json.dumps(sidecar, indent=1), encoding="utf-8")
    return drawn


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
