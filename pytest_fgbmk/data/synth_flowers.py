"""Synthetic flowers written in the iNat2021 json layout, plus a sidecar for the attributes.

Levels are iNat2021's: kingdom (Plantae) → phylum (Tracheophyta) → class → order → family
→ genus → species, with invented Latin names (``Rosbelaria melanoxantha``: the epithet
compounds the centre and petal colours). Siblings differ in one or two attributes: orders
in petal shape and size, families in leaf shape, genera in petal count, species in petal
and centre colour. iNat2021 has no attributes: they go to ``synth_attributes.json``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pytest_fgbmk.data.synth_design import (
    Drawn,
    LevelSpec,
    SpeciesDesign,
    design,
    invented_stems,
)
from pytest_fgbmk.data.synth_render import FLOWER_SIZES, render_flower

META = "flower"
SIDECAR = "synth_attributes.json"
KINGDOM, PHYLUM, SUPERCATEGORY = "Plantae", "Tracheophyta", "Plants"
CLASSES = ("Magnoliopsida", "Liliopsida")

#: Attribute groups with their kinds and vocabularies.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("petal color", "colour", ("red", "pink", "white", "yellow", "orange", "purple", "blue")),
    ("petal count", "other", ("3", "4", "5", "6", "8")),
    ("petal shape", "shape", ("rounded", "pointed", "notched", "spatulate", "fringed")),
    ("center color", "colour", ("yellow", "orange", "brown", "black", "white", "green", "red")),
    ("leaf shape", "shape", ("ovate", "lanceolate", "linear", "orbicular", "lobed")),
    ("size", "size", tuple(FLOWER_SIZES)),
)
_VOCAB = {name: values for name, _, values in GROUPS}

DESIGN_LEVELS = (
    LevelSpec("order", (("petal shape", _VOCAB["petal shape"]), ("size", _VOCAB["size"]))),
    LevelSpec("family", (("leaf shape", _VOCAB["leaf shape"]),)),
    LevelSpec("genus", (("petal count", _VOCAB["petal count"]),)),
    LevelSpec(
        "species",
        (("petal color", _VOCAB["petal color"]), ("center color", _VOCAB["center color"])),
        allowed=lambda v: v["petal color"] != v["center color"],
    ),
)

CENTER_PREFIX = {
    "yellow": "chryso", "orange": "pyrrho", "brown": "phaeo", "black": "melano",
    "white": "leuco", "green": "chloro", "red": "erythro",
}  # fmt: skip
PETAL_SUFFIX = {
    "red": "erythra", "pink": "rhodea", "white": "leuca", "yellow": "xantha",
    "orange": "crocea", "purple": "porphyrea", "blue": "cyanea",
}  # fmt: skip
_GENUS_ENDINGS = ("aria", "ella", "anthus", "ia", "opsis", "ora")


def species_designs(n_species: int) -> list[SpeciesDesign]:
    return design(DESIGN_LEVELS, n_species, seed=(20_250, 11))


def taxonomy(designs: list[SpeciesDesign]) -> list[dict[str, str]]:
    """iNat2021 category fields (kingdom … genus, specific_epithet, common_name) per species."""
    n_genus = max(d.path[2] for d in designs) + 1
    n_order = max(d.path[0] for d in designs) + 1
    stems = invented_stems(n_genus, seed=(20_250, 12))
    out = []
    for d in designs:
        a = d.attributes
        o, f, g, _ = d.path
        first_genus_of_family = f * 2
        first_genus_of_order = o * 4
        genus = stems[g].capitalize() + _GENUS_ENDINGS[g % len(_GENUS_ENDINGS)]
        epithet = CENTER_PREFIX[a["center color"]] + PETAL_SUFFIX[a["petal color"]]
        klass = CLASSES[0] if n_order < 4 or o < (n_order + 1) // 2 else CLASSES[1]
        out.append(
            {
                "kingdom": KINGDOM,
                "phylum": PHYLUM,
                "class": klass,
                "order": stems[first_genus_of_order].capitalize() + "ales",
                "family": stems[first_genus_of_family].capitalize() + "aceae",
                "genus": genus,
                "specific_epithet": epithet,
                "common_name": f"{a['center color']}-eyed {a['petal color']} {genus.lower()}",
            }
        )
    return out


def _file_uuid(seed: int, species: int, k: int) -> str:
    digest = hashlib.sha1(f"fgbmk-synth-flower/{seed}/{species}/{k}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def write_inat(
    dest: Path,
    n_species: int,
    images_per_species: int,
    n_train: int,
    size: int,
    seed: int,
    on_image: Callable[[], None],
) -> list[Drawn]:
    """Render the flowers into ``dest`` in the iNat2021 json layout; return what was drawn."""
    designs = species_designs(n_species)
    taxa = taxonomy(designs)
    categories: list[dict[str, Any]] = []
    for d, t in zip(designs, taxa, strict=True):
        dir_name = "_".join(
            [f"{d.index:05d}", t["kingdom"], t["phylum"], t["class"], t["order"], t["family"]]
            + [t["genus"], t["specific_epithet"]]
        )
        categories.append(
            {
                "id": d.index,
                "name": f"{t['genus']} {t['specific_epithet']}",
                "common_name": t["common_name"],
                "supercategory": SUPERCATEGORY,
                **{k: t[k] for k in ("kingdom", "phylum", "class", "order", "family", "genus")},
                "specific_epithet": t["specific_epithet"],
                "image_dir_name": dir_name,
            }
        )
    n_train_total = n_train * n_species
    docs = {src: {"images": [], "annotations": []} for src in ("train", "val")}
    counters = {"train": 0, "val": n_train_total}
    drawn: list[Drawn] = []
    for d, cat in zip(designs, categories, strict=True):
        for src in ("train", "val"):
            (dest / src / cat["image_dir_name"]).mkdir(parents=True)
        for k in range(images_per_species):
            src = "train" if k < n_train else "val"
            rng = np.random.default_rng([seed, 2, d.index, k])
            rel = f"{src}/{cat['image_dir_name']}/{_file_uuid(seed, d.index, k)}.jpg"
            render_flower(d.attributes, rng, size).save(dest / rel, quality=90)
            image_id = counters[src]
            drawn.append(Drawn(rel, d.index, "train" if src == "train" else "test"))
            counters[src] += 1
            docs[src]["images"].append(
                {
                    "id": image_id,
                    "width": size,
                    "height": size,
                    "file_name": rel,
                    "license": 1,
                    "rights_holder": "pytest-fgbmk synthetic renderer",
                    "date": f"2021-{1 + k % 12:02d}-{1 + d.index % 28:02d} 12:00:00",
                    "latitude": round(float(rng.uniform(-60, 70)), 4),
                    "longitude": round(float(rng.uniform(-180, 180)), 4),
                    "location_uncertainty": int(rng.integers(5, 500)),
                }
            )
            docs[src]["annotations"].append(
                {"id": image_id, "image_id": image_id, "category_id": d.index}
            )
            on_image()
    for src, doc in docs.items():
        full = {
            "info": {
                "year": 2021,
                "version": "synthetic",
                "description": "pytest-fgbmk procedurally rendered flowers in the iNat2021 layout",
            },
            "licenses": [{"id": 1, "name": "CC0 1.0", "url": ""}],
            "images": doc["images"],
            "annotations": doc["annotations"],
            "categories": categories,
        }
        (dest / f"{src}.json").write_text(json.dumps(full), encoding="utf-8")
    sidecar = {
        "groups": [{"name": n, "kind": k, "values": list(v)} for n, k, v in GROUPS],
        "categories": {c["name"]: d.attributes for d, c in zip(designs, categories, strict=True)},
    }
    (dest / SIDECAR).write_text(json.dumps(sidecar, indent=1), encoding="utf-8")
    return drawn
