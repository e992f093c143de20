"""Tiny faithful replicas of the modern datasets' published layouts, written by the tests.

Each writer puts real file names and real column orders under a folder and returns it.
Images are tiny solid-colour JPEGs so that :meth:`Dataset.open_image` can be exercised.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

#: Three iNat2021 categories (real ids and taxonomy), two sharing the genus Rosa.
INAT_CATEGORIES = [
    {
        "id": 9449,
        "name": "Rosa majalis",
        "common_name": "Cinnamon Rose",
        "supercategory": "Plants",
        "kingdom": "Plantae",
        "phylum": "Tracheophyta",
        "class": "Magnoliopsida",
        "order": "Rosales",
        "family": "Rosaceae",
        "genus": "Rosa",
        "specific_epithet": "majalis",
        "image_dir_name": "09449_Plantae_Tracheophyta_Magnoliopsida_Rosales_Rosaceae_Rosa_majalis",
    },
    {
        "id": 9450,
        "name": "Rosa multiflora",
        "common_name": "multiflora rose",
        "supercategory": "Plants",
        "kingdom": "Plantae",
        "phylum": "Tracheophyta",
        "class": "Magnoliopsida",
        "order": "Rosales",
        "family": "Rosaceae",
        "genus": "Rosa",
        "specific_epithet": "multiflora",
        "image_dir_name": "09450_Plantae_Tracheophyta_Magnoliopsida_Rosales_Rosaceae_Rosa_multiflora",
    },
    {
        "id": 0,
        "name": "Abudefduf saxatilis",
        "common_name": "Sergeant Major",
        "supercategory": "Ray-finned Fishes",
        "kingdom": "Animalia",
        "phylum": "Chordata",
        "class": "Actinopterygii",
        "order": "Perciformes",
        "family": "Pomacentridae",
        "genus": "Abudefduf",
        "specific_epithet": "saxatilis",
        "image_dir_name": "00000_Animalia_Chordata_Actinopterygii_Perciformes_Pomacentridae_Abudefduf_saxatilis",
    },
]


def write_image(path: Path, colour: tuple[int, int, int] = (120, 60, 30)) -> Path:
    """A 4×4 JPEG at ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), colour).save(path, format="JPEG")
    return path


def inat_json_doc(images: list[tuple[int, str, int]], categories=None) -> dict:
    """A COCO-style iNat2021 document from (image id, split folder, category id) triples."""
    cats = INAT_CATEGORIES if categories is None else categories
    dir_of = {c["id"]: c["image_dir_name"] for c in cats}
    return {
        "info": {"year": 2021, "version": "2021", "description": "iNat2021 replica"},
        "licenses": [{"id": 0, "name": "CC BY 4.0", "url": ""}],
        "images": [
            {
                "id": i,
                "width": 4,
                "height": 4,
                "file_name": f"{src}/{dir_of.get(c, 'unknown')}/{i:08d}-uuid.jpg",
                "license": 0,
                "rights_holder": "someone",
                "date": "2019-07-01 10:00:00+00:00",
                "latitude": 45.0,
                "longitude": 7.0,
                "location_uncertainty": 10,
            }
            for i, src, c in images
        ],
        "categories": cats,
        "annotations": [
            {"id": n, "image_id": i, "category_id": c} for n, (i, _, c) in enumerate(images)
        ],
    }


#: The replica's split contents: (image id, folder, category id).
INAT_TRAIN = [(1, "train", 9449), (2, "train", 9449), (3, "train", 9450), (4, "train", 0)]
INAT_VAL = [(101, "val", 9449), (102, "val", 0)]


def write_inat_json(root: Path, train=None, val=None, images: bool = True) -> Path:
    """``root/train.json`` and ``root/val.json`` (and the images they name)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, items in (("train", train or INAT_TRAIN), ("val", val or INAT_VAL)):
        doc = inat_json_doc(items)
        (root / f"{name}.json").write_text(json.dumps(doc), encoding="utf-8")
        if images:
            for img in doc["images"]:
                write_image(root / img["file_name"])
    return root


def write_inat_folders(root: Path) -> Path:
    """The json-free folder form of the same replica."""
    for items in (INAT_TRAIN, INAT_VAL):
        for img in inat_json_doc(items)["images"]:
            write_image(root / img["file_name"])
    return root
