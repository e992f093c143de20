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


def write_vegfru(root: Path, with_sup: bool = True) -> Path:
    """vegfru_list/ files (sub and sup) over veg200_images/ and fru92_images/."""
    lists = root / "vegfru_list"
    lists.mkdir(parents=True, exist_ok=True)
    sub = {
        "train": [
            ("veg200_images/chinese_cabbage/v_001.jpg", 3),
            ("veg200_images/chinese_cabbage/v_002.jpg", 3),
            ("fru92_images/blood orange/f_001.jpg", 205),
        ],
        "val": [("veg200_images/chinese_cabbage/v_003.jpg", 3)],
        "test": [("fru92_images/blood orange/f_002.jpg", 205), ("veg200_images/leek/l_1.jpg", 0)],
    }
    sup = {3: 1, 205: 17, 0: 0}
    for split, rows in sub.items():
        (lists / f"vegfru_{split}.txt").write_text("".join(f"{p} {lab}\n" for p, lab in rows))
        if with_sup:
            (lists / f"supvegfru_{split}.txt").write_text(
                "".join(f"{p} {sup[lab]}\n" for p, lab in rows)
            )
    return root


def write_products10k(root: Path) -> Path:
    """train.csv (name,class,group) and test_kaggletest.csv (name,class,Usage)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.csv").write_text("name,class,group\n0.jpg,0,0\n1.jpg,0,0\n2.jpg,7,3\n")
    (root / "test_kaggletest.csv").write_text(
        "name,class,Usage\n100.jpg,7,Public\n101.jpg,0,Private\n"
    )
    return root


DF_ATTRS = [
    ("abstract chevron", 1),
    ("chiffon", 2),
    ("a-line", 3),
    ("collar", 4),
    ("boho", 5),
    ("floral", 1),
]


def write_deepfashion(root: Path, attr_rows=None) -> Path:
    """Anno/ and Eval/ files of the Category and Attribute Prediction Benchmark."""
    anno, ev = root / "Anno", root / "Eval"
    anno.mkdir(parents=True, exist_ok=True)
    ev.mkdir(parents=True, exist_ok=True)
    cats = [("Anorak", 1), ("Blazer", 1), ("Capris", 2)]
    imgs = [
        ("img/Hooded_Cotton_Anorak/img_00000001.jpg", 1, "train"),
        ("img/Boxy_Blazer/img_00000001.jpg", 2, "val"),
        ("img/Boxy_Blazer/img_00000002.jpg", 2, "test"),
    ]
    attrs = attr_rows or [
        "1 -1 -1 -1 -1 1",
        "-1 -1 1 0 -1 -1",
        "-1 -1 -1 -1 -1 -1",
    ]

    def table(head, rows):
        return f"{len(rows)}\n{head}\n" + "".join(r + "\n" for r in rows)

    (anno / "list_category_cloth.txt").write_text(
        table("category_name  category_type", [f"{n:<24}{t}" for n, t in cats])
    )
    (anno / "list_category_img.txt").write_text(
        table("image_name  category_label", [f"{p:<50}{c}" for p, c, _ in imgs])
    )
    (anno / "list_attr_cloth.txt").write_text(
        table("attribute_name  attribute_type", [f"{n:<30}{t}" for n, t in DF_ATTRS])
    )
    (anno / "list_attr_img.txt").write_text(
        table(
            "image_name  attribute_labels",
            [f"{p:<50}{a}" for (p, _, _), a in zip(imgs, attrs, strict=True)],
        )
    )
    (ev / "list_eval_partition.txt").write_text(
        table("image_name  evaluation_status", [f"{p:<50}{s}" for p, _, s in imgs])
    )
    return root


SKINCON_CONCEPTS = [
    "Vesicle",
    "Papule",
    "Macule",
    "Plaque",
    "Purpura/Petechiae",
    "Brown(Hyperpigmentation)",
]


def write_skincon(root: Path) -> Path:
    """annotations_fitzpatrick17k.csv (index, ImageID, concepts, exclusion) + images."""
    header = ["", "ImageID", *SKINCON_CONCEPTS, "Do not consider this image"]
    rows = [
        ["0", "aaa.jpg", "0", "1", "0", "1", "0", "0", "0"],
        ["1", "bbb.jpg", "0", "0", "0", "0", "1", "0", "0"],
        ["2", "ccc.jpg", "1", "0", "0", "0", "0", "0", "1"],  # do not consider
        ["3", "ddd.jpg", "0", "0", "0", "0", "0", "0", "0"],  # no concept
        ["4", "eee.jpg", "0", "0", "1", "0", "0", "0", "0"],  # image absent
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "annotations_fitzpatrick17k.csv").write_text(
        "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    )
    for name in ("aaa.jpg", "bbb.jpg", "ccc.jpg", "ddd.jpg"):
        write_image(root / "fitzpatrick17k" / name)
    return root


WINE_CATEGORIES = [
    {"supercategory": "背景", "id": 0, "name": "背景"},
    {"supercategory": "瓶盖破损", "id": 1, "name": "瓶盖破损"},
    {"supercategory": "标贴起皱", "id": 7, "name": "标贴起皱"},
    {"supercategory": "喷码正常", "id": 9, "name": "喷码正常"},
]


def wine_doc() -> dict:
    """A COCO-style annotations.json of the Tianchi wine-bottle set."""
    return {
        "info": {"description": "replica"},
        "images": [
            {"file_name": "img_0000001.jpg", "id": 1, "height": 492, "width": 658},
            {"file_name": "img_0000002.jpg", "id": 2, "height": 492, "width": 658},
            {"file_name": "img_0000003.jpg", "id": 3, "height": 492, "width": 658},
        ],
        "annotations": [
            {
                "area": 10.0,
                "iscrowd": 0,
                "image_id": 1,
                "bbox": [1, 2, 3, 4],
                "category_id": 9,
                "id": 1,
            },
            {
                "area": 10.0,
                "iscrowd": 0,
                "image_id": 1,
                "bbox": [5, 2, 3, 4],
                "category_id": 1,
                "id": 2,
            },
            {
                "area": 10.0,
                "iscrowd": 0,
                "image_id": 1,
                "bbox": [6, 2, 3, 4],
                "category_id": 1,
                "id": 3,
            },
            {
                "area": 10.0,
                "iscrowd": 0,
                "image_id": 2,
                "bbox": [1, 2, 3, 4],
                "category_id": 7,
                "id": 4,
            },
        ],
        "categories": WINE_CATEGORIES,
    }


def write_wine(root: Path, doc: dict | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "annotations.json").write_text(
        json.dumps(doc or wine_doc(), ensure_ascii=False), encoding="utf-8"
    )
    return root
