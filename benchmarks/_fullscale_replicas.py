"""Metadata replicas of the 12 FG-BMK datasets at the paper's sizes, in their own layouts.

Used by ``bench_full_scale.py``. Each writer reproduces the published index files (file
names, column orders, .mat containers, COCO json with the fields the real files carry) at
the sizes of the paper's Table 6, times ``scale``; names are synthetic but shaped like the
real ones (CUB's ``001.Adjective_Genus`` folders, iNat's seven ranks, Cars' ``Make Model
Type Year``). Labels, attributes and splits are drawn from a seeded generator.

Images: only the files a run reads exist (every test-split image, and every SkinCon image,
whose loader skips absent files); each is a *hard link* to one 8×8 JPEG, so the paths
cost directory entries, not blocks (past the file system's link limit, 65,000 on ext4, the
rest are copies of it: 4 KiB each). What this hides: the decode of real-size images (the
engine's and the image check's) and disk reads; ``bench_full_scale.py`` measures the image
check on a real-size JPEG separately and states the extrapolation.

Sizes (images; paper Table 6) and the splits used (the datasets' published splits where the
Table 6 count matches them; else the count is split as stated):

    cub 11,788 (train 5,994 / test 5,794)       stanford_dogs 20,580 (12,000 / 8,580)
    stanford_cars 16,185 (8,144 / 8,041)        fgvc_aircraft 6,667 (3,334 / test 3,333)
    flowers102 7,169 (1,020 / 6,149)            food101 101,000 (75,750 / 25,250)
    inat2021 2,786,843 (train 2,686,843 / val 100,000)
    vegfru 146,131 (29,200 / val 14,600 / test 102,331)
    products10k 197,307 (141,931 / 55,376)      deepfashion 18,000 (13,000 / 2,500 / 2,500)
    skincon 3,866 (hash split)                  wine 4,516 (hash split)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

#: name → (split sizes in loader order, classes) at scale 1.
SIZES: dict[str, tuple[dict[str, int], int]] = {
    "cub": ({"train": 5994, "test": 5794}, 200),
    "stanford_dogs": ({"train": 12000, "test": 8580}, 120),
    "stanford_cars": ({"train": 8144, "test": 8041}, 196),
    "fgvc_aircraft": ({"train": 3334, "test": 3333}, 100),
    "flowers102": ({"train": 1020, "test": 6149}, 102),
    "food101": ({"train": 75750, "test": 25250}, 101),
    "inat2021": ({"train": 2686843, "test": 100000}, 10000),
    "vegfru": ({"train": 29200, "val": 14600, "test": 102331}, 292),
    "products10k": ({"train": 141931, "test": 55376}, 9691),
    "deepfashion": ({"train": 13000, "val": 2500, "test": 2500}, 46),
    "skincon": ({"all": 3866}, 48),
    "wine": ({"all": 4516}, 10),
}

_SYLLABLES = [a + b for a in "bcdfglmnprstvz" for b in ("a", "e", "i", "o", "u", "ae", "or", "us")]


def word(n: int, length: int = 3) -> str:
    """A pronounceable lower-case word for ``n`` (distinct for distinct n < 112**length)."""
    out = []
    for _ in range(length):
        n, r = divmod(n, len(_SYLLABLES))
        out.append(_SYLLABLES[r])
    return "".join(out)


def sized(name: str, scale: float) -> tuple[dict[str, int], int]:
    """Split sizes and class count of ``name`` at ``scale`` (at least 2 images a split;
    classes capped so that each has about 3 images)."""
    splits, classes = SIZES[name]
    out = {k: max(2, round(v * scale)) for k, v in splits.items()}
    total = sum(out.values())
    return out, max(2, min(classes, total // 3)) if scale < 1 else classes


class ImageLinker:
    """Hard links to one tiny JPEG (copies when the file system refuses links)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.source = folder / "placeholder.jpg"
        if not self.source.exists():
            Image.new("RGB", (8, 8), (120, 90, 60)).save(self.source, format="JPEG")
        self.count = 0
        self._dirs: set[Path] = set()

    def __call__(self, path: Path) -> None:
        parent = path.parent
        if parent not in self._dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(parent)
        try:
            os.link(self.source, path)
        except FileExistsError:
            pass
        except OSError:
            path.write_bytes(self.source.read_bytes())
        self.count += 1


def _text(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(f"{line}\n" for line in lines)


def _labels(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    """n class indices, every class used when n >= classes."""
    base = np.arange(n) % classes
    rng.shuffle(base)
    return base


def _cell(strings: list[str], row: bool = False) -> np.ndarray:
    out = np.empty((1, len(strings)) if row else (len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[(0, i) if row else (i, 0)] = s
    return out


# --- CUB-200-2011 -------------------------------------------------------------------

COLOURS = [
    "blue",
    "brown",
    "iridescent",
    "purple",
    "rufous",
    "grey",
    "yellow",
    "olive",
    "green",
    "pink",
    "orange",
    "black",
    "white",
    "red",
    "buff",
]
#: (group, number of values) in CUB's order: 312 attributes in 28 groups.
CUB_GROUPS = (
    [("bill_shape", 9), ("wing_color", 15), ("upperparts_color", 15), ("underparts_color", 15)]
    + [("breast_pattern", 4), ("back_color", 15), ("tail_shape", 6), ("upper_tail_color", 15)]
    + [("head_pattern", 11), ("breast_color", 15), ("throat_color", 15), ("eye_color", 14)]
    + [("bill_length", 3), ("forehead_color", 15), ("under_tail_color", 15), ("nape_color", 15)]
    + [("belly_color", 15), ("wing_shape", 5), ("size", 5), ("shape", 14), ("back_pattern", 4)]
    + [("tail_pattern", 4), ("belly_pattern", 4), ("primary_color", 15), ("leg_color", 15)]
    + [("bill_color", 15), ("crown_color", 15), ("wing_pattern", 4)]
)


def write_cub(root: Path, scale: float, rng: np.random.Generator, link: ImageLinker) -> None:
    splits, n_cls = sized("cub", scale)
    base = root / "CUB_200_2011"
    genera = max(2, n_cls // 3)
    classes = [
        f"{i:03d}.{word(i).title()}_{word(1000 + i % genera).title()}" for i in range(1, n_cls + 1)
    ]
    n = sum(splits.values())
    labels = _labels(rng, n, n_cls)
    is_train = np.zeros(n, dtype=int)
    is_train[: splits["train"]] = 1
    rng.shuffle(is_train)
    paths = [
        f"{classes[c]}/{classes[c][4:]}_{i:04d}_{1000 + i}.jpg" for i, c in enumerate(labels, 1)
    ]
    _text(base / "classes.txt", (f"{i} {c}" for i, c in enumerate(classes, 1)))
    _text(base / "images.txt", (f"{i} {p}" for i, p in enumerate(paths, 1)))
    _text(base / "image_class_labels.txt", (f"{i} {c + 1}" for i, c in enumerate(labels, 1)))
    _text(base / "train_test_split.txt", (f"{i} {t}" for i, t in enumerate(is_train, 1)))
    _text(base / "bounding_boxes.txt", (f"{i} 60.0 27.0 325.0 304.0" for i in range(1, n + 1)))
    attrs = []
    for group, k in CUB_GROUPS:
        values = COLOURS[:k] if group.endswith("color") else [f"{word(j, 2)}" for j in range(k)]
        attrs += [f"has_{group}::{v}" for v in values]
    _text(root / "attributes.txt", (f"{i} {a}" for i, a in enumerate(attrs, 1)))
    _text(
        base / "attributes" / "certainties.txt",
        ["1 not visible", "2 guessing", "3 probably", "4 definitely"],
    )
    n_attr = len(attrs)
    with (base / "attributes" / "image_attribute_labels.txt").open("w", encoding="utf-8") as fh:
        for img in range(1, n + 1):
            present = rng.random(n_attr) < 0.1
            cert = rng.integers(1, 5, n_attr)
            fh.writelines(
                f"{img} {a} {int(p)} {c} 3.5\n"
                for a, p, c in zip(range(1, n_attr + 1), present, cert, strict=True)
            )
    for p, t in zip(paths, is_train, strict=True):
        if not t:
            link(base / "images" / p)


# --- Stanford Dogs ------------------------------------------------------------------


def write_dogs(root: Path, scale: float, rng: np.random.Generator, link: ImageLinker) -> None:
    import scipy.io

    splits, n_cls = sized("stanford_dogs", scale)
    top = root / "stanford_dogs"
    breeds = [f"n{2085620 + i:08d}-{word(i).title()}_{word(500 + i, 2)}" for i in range(n_cls)]
    counter = 0
    for split, n in splits.items():
        labels = _labels(rng, n, n_cls)
        files = []
        for c in labels:
            counter += 1
            files.append(f"{breeds[c]}/{breeds[c].split('-')[0]}_{counter}.jpg")
        (top / "lists").mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(
            str(top / "lists" / f"{split}_list.mat"),
            {
                "file_list": _cell(files),
                "annotation_list": _cell([f.rsplit(".", 1)[0] for f in files]),
                "labels": (labels + 1).astype(float).reshape(-1, 1),
            },
        )
        if split == "test":
            for f in files:
                link(top / "Images" / f)


# --- Stanford Cars ------------------------------------------------------------------


def write_cars(root: Path, scale: float, rng: np.random.Generator, link: ImageLinker) -> None:
    import scipy.io

    splits, n_cls = sized("stanford_cars", scale)
    top = root / "stanford_cars"
    kinds = ["Sedan", "SUV", "Coupe", "Convertible", "Hatchback", "Minivan", "Wagon", "Cab"]
    names = [
        f"{word(i // 4, 2).title()} {word(300 + i).title()} {kinds[i % len(kinds)]} {1991 + i % 22}"
        for i in range(n_cls)
    ]
    (top / "devkit").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(top / "devkit" / "cars_meta.mat"), {"class_names": _cell(names, row=True)})
    for split, n in splits.items():
        labels = _labels(rng, n, n_cls)
        fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
        ann = np.empty((1, n), dtype=[(f, object) for f in fields])
        box = np.array([[39]], dtype=np.uint16)
        for i, c in enumerate(labels):
            for f in fields[:4]:
                ann[f][0, i] = box
            ann["class"][0, i] = np.array([[c + 1]], dtype=np.uint16)
            ann["fname"][0, i] = f"{i + 1:05d}.jpg"
        path = top / (
            "devkit/cars_train_annos.mat" if split == "train" else "cars_test_annos_withlabels.mat"
        )
        scipy.io.savemat(str(path), {"annotations": ann})
        if split == "test":
            for i in range(n):
                link(top / "cars_test" / f"{i + 1:05d}.jpg")


# --- FGVC-Aircraft ------------------------------------------------------------------


def write_aircraft(root: Path, scale: float, rng: np.random.Generator, link: ImageLinker) -> None:
    splits, n_var = sized("fgvc_aircraft", scale)
    data = root / "fgvc-aircraft-2013b" / "data"
    n_fam, n_man = max(2, n_var * 7 // 10), max(2, n_var * 3 // 10)
    makers = [f"{word(i, 2).title()} Aircraft" for i in range(n_man)]
    fams = [f"{word(i, 2).title()} {100 + j}" for j in range(n_fam) for i in [j % n_man]]
    variants = [f"{fams[v % n_fam]}-{200 + v}" for v in range(n_var)]
    _text(data / "variants.txt", variants)
    _text(data / "families.txt", fams)
    _text(data / "manufacturers.txt", makers)
    counter = 1000000
    rows: dict[str, list[tuple[str, int]]] = {}
    for split, n in splits.items():
        labels = _labels(rng, n, n_var)
        rows[split] = []
        for v in labels:
            counter += 7
            rows[split].append((f"{counter:07d}", int(v)))
    for split in ("train", "test"):
        r = rows[split]
        _text(data / f"images_variant_{split}.txt", (f"{i} {variants[v]}" for i, v in r))
        _text(data / f"images_family_{split}.txt", (f"{i} {fams[v % n_fam]}" for i, v in r))
        _text(
            data / f"images_manufacturer_{split}.txt",
            (f"{i} {makers[(v % n_fam) % n_man]}" for i, v in r),
        )
    for i, _v in rows["test"]:
        link(data / "images" / f"{i}.jpg")


# --- Oxford Flowers102 --------------------------------------------------------------


def write_flowers(root: Path, scale: float, rng: np.random.Generator, link: ImageLinker) -> None:
    import scipy.io

    splits, n_cls = sized("flowers102", scale)
    top = root / "flowers102"
    top.mkdir(parents=True, exist_ok=True)
    n = sum(splits.values())
    labels = _labels(rng, n, n_cls) + 1
    order = rng.permutation(n) + 1
    trn, tst = np.sort(order[: splits["train"]]), np.sort(order[splits["train"] :])
    scipy.io.savemat(
        str(top / "imagelabels.mat"), {"labels": labels.reshape(1, -1).astype(np.uint8)}
    )
    scipy.io.savemat(
        str(top / "setid.mat"),
        {
            "trnid": trn.reshape(1, -1).astype(np.uint16),
            "valid": np.zeros((1, 0), dtype=np.uint16),
            "tstid": tst.reshape(1, -1).astype(np.uint16),
        },
    )
    for i in tst:
        link(top / "jpg" / f"image_{i:05d}.jpg")


# --- Food-101 -----------------------------------------------------------------------


def write_food(root: Path, scale: float, rng: np.random.Generator, link: ImageLinker) -> None:
    splits, n_cls = sized("food101", scale)
    top = root / "food-101"
    classes = [f"{word(i)}_{word(200 + i, 2)}" for i in range(n_cls)]
    _text(top / "meta" / "classes.txt", classes)
    _text(top / "meta" / "labels.txt", (c.replace("_", " ").capitalize() for c in classes))
    counter = 100000
    for split, n in splits.items():
        entries = []
        for c in _labels(rng, n, n_cls):
            counter += 3
            entries.append(f"{classes[c]}/{counter}")
        _text(top / "meta" / f"{split}.txt", entries)
        if split == "test":
            for e in entries:
                link(top / "images" / f"{e}.jpg")


# --- iNat2021 -----------------------------------------------------------------------

KINGDOMS = ["Animalia", "Plantae", "Fungi"]


def write_inat(root: Path, scale: float, rng: np.random.Generator, link: ImageLinker) -> None:
    splits, n_cls = sized("inat2021", scale)
    top = root / "inat2021"
    top.mkdir(parents=True, exist_ok=True)
    # about the real rank sizes (3 kingdoms, 13 phyla, 51 classes, 273 orders, 1103
    # families, 4884 genera over 10,000 species)
    per = {"phylum": 770, "class": 196, "order": 37, "family": 9, "genus": 2}
    cats = []
    for s in range(n_cls):
        genus = word(5000 + s // per["genus"]).title()
        epithet = word(20000 + s)
        d = {
            "id": s,
            "name": f"{genus} {epithet}",
            "common_name": f"{word(40000 + s, 2).title()} {word(60000 + s // 5, 2)}",
            "supercategory": KINGDOMS[s * 3 // n_cls],
            "kingdom": KINGDOMS[s * 3 // n_cls],
            "phylum": word(100 + s // per["phylum"]).title(),
            "class": word(300 + s // per["class"]).title(),
            "order": word(700 + s // per["order"]).title() + "ales",
            "family": word(2000 + s // per["family"]).title() + "idae",
            "genus": genus,
            "specific_epithet": epithet,
        }
        d["image_dir_name"] = "_".join(
            [
                f"{s:05d}",
                d["kingdom"],
                d["phylum"],
                d["class"],
                d["order"],
                d["family"],
                genus,
                epithet,
            ]
        )
        cats.append(d)
    next_id = 1
    for src, split in (("train", "train"), ("val", "test")):
        n = splits[split]
        labels = _labels(rng, n, n_cls)
        path = top / f"{src}.json"
        with path.open("w", encoding="utf-8") as fh:
            fh.write(
                '{"info": {"year": 2021, "version": "2021", "description": "iNat2021 replica"}, '
            )
            fh.write('"licenses": [{"id": 0, "name": "CC BY 4.0", "url": ""}], "images": [')
            files = []
            for k, c in enumerate(labels):
                fname = f"{src}/{cats[c]['image_dir_name']}/{next_id + k:08x}-4c1f-4d2e-9a7b-{k:012x}.jpg"
                files.append(fname)
                fh.write(
                    ("" if k == 0 else ", ")
                    + f'{{"id": {next_id + k}, "width": 500, "height": 375, "file_name": "{fname}", '
                    f'"license": 0, "rights_holder": "observer {k % 9973}", '
                    f'"date": "2019-07-01 10:00:00+00:00", "latitude": 45.{k % 1000:03d}, '
                    f'"longitude": 7.{k % 997:03d}, "location_uncertainty": {k % 100}}}'
                )
            fh.write('], "categories": ')
            fh.write(json.dumps(cats))
            fh.write(', "annotations": [')
            fh.write(
                ", ".join(
                    f'{{"id": {next_id + k}, "image_id": {next_id + k}, "category_id": {int(c)}}}'
                    for k, c in enumerate(labels)
                )
            )
            fh.write("]}")
        if split == "test":
            for f in files:
                link(top / f)
        next_id += n


# --- VegFru -------------------------------------------------------------------------


def write_vegfru(root: Path, scale: float, rng: np.random.Generator, link: ImageLinker) -> None:
    splits, n_cls = sized("vegfru", scale)
    top = root / "vegfru"
    n_veg = max(1, n_cls * 200 // 292)
    sup_of = [
        c * 15 // n_veg if c < n_veg else 15 + (c - n_veg) * 10 // max(1, n_cls - n_veg)
        for c in range(n_cls)
    ]
    folders = [
        f"veg200_images/{word(c)}_{word(900 + c, 2)}"
        if c < n_veg
        else f"fru92_images/{word(c)} {word(900 + c, 2)}"
        for c in range(n_cls)
    ]
    counter = 0
    for split, n in splits.items():
        rows = []
        for c in _labels(rng, n, n_cls):
            counter += 1
            rows.append((f"{folders[c]}/{'v' if c < n_veg else 'f'}_{counter:06d}.jpg", int(c)))
        label = [lab if lab < n_veg else 200 + lab - n_veg for _p, lab in rows]
        _text(
            top / "vegfru_list" / f"vegfru_{split}.txt",
            (f"{p} {lab}" for (p, _), lab in zip(rows, label, strict=True)),
        )
        _text(top / "vegfru_list" / f"supvegfru_{split}.txt", (f"{p} {sup_of[c]}" for p, c in rows))
        if split == "test":
            for p, _ in rows:
                link(top / p)


# --- Products-10K -------------------------------------------------------------------


def write_products(root: Path, scale: float, rng: np.random.Generator, link: ImageLinker) -> None:
    splits, n_cls = sized("products10k", scale)
    top = root / "products10k"
    top.mkdir(parents=True, exist_ok=True)
    group_of = [c * 360 // n_cls for c in range(n_cls)]
    counter = 0
    for split, n in splits.items():
        labels = _labels(rng, n, n_cls)
        names = [f"{counter + k}.jpg" for k in range(n)]
        counter += n
        if split == "train":
            lines = ["name,class,group"] + [
                f"{f},{c},{group_of[c]}" for f, c in zip(names, labels, strict=True)
            ]
            _text(top / "train.csv", lines)
        else:
            usage = ("Public", "Private")
            lines = ["name,class,Usage"] + [
                f"{f},{c},{usage[k % 2]}"
                for k, (f, c) in enumerate(zip(names, labels, strict=True))
            ]
            _text(top / "test_kaggletest.csv", lines)
            for f in names:
                link(top / "test" / f)


# --- DeepFashion --------------------------------------------------------------------


def write_deepfashion(
    root: Path, scale: float, rng: np.random.Generator, link: ImageLinker
) -> None:
    splits, n_cls = sized("deepfashion", scale)
    top = root / "deepfashion"
    n_attr = 1000
    cats = [(f"{word(c, 2).title()}{word(70 + c, 1)}", 1 + c % 3) for c in range(n_cls)]
    attrs = [(f"{word(3000 + a, 2)} {word(5000 + a, 1)}", 1 + a % 5) for a in range(n_attr)]
    n = sum(splits.values())
    labels = _labels(rng, n, n_cls)
    status = [s for s, k in splits.items() for _ in range(k)]
    rng.shuffle(status)
    paths = [
        f"img/{word(8000 + c, 2).title()}_{cats[c][0]}/img_{i:08d}.jpg"
        for i, c in enumerate(labels, 1)
    ]

    def table(path: Path, head: str, rows) -> None:
        rows = list(rows)
        _text(path, [str(len(rows)), head, *rows])

    table(
        top / "Anno" / "list_category_cloth.txt",
        "category_name  category_type",
        (f"{a:<24}{t}" for a, t in cats),
    )
    table(
        top / "Anno" / "list_category_img.txt",
        "image_name  category_label",
        (f"{p:<50}{c + 1}" for p, c in zip(paths, labels, strict=True)),
    )
    table(
        top / "Anno" / "list_attr_cloth.txt",
        "attribute_name  attribute_type",
        (f"{a:<30}{t}" for a, t in attrs),
    )
    rows = []
    for p in paths:
        marks = np.where(rng.random(n_attr) < 0.005, "1", "-1")
        rows.append(f"{p:<50}" + " ".join(marks))
    table(top / "Anno" / "list_attr_img.txt", "image_name  attribute_labels", rows)
    table(
        top / "Eval" / "list_eval_partition.txt",
        "image_name  evaluation_status",
        (f"{p:<50}{s}" for p, s in zip(paths, status, strict=True)),
    )
    for p, s in zip(paths, status, strict=True):
        if s == "test":
            link(top / p)


# --- SkinCon ------------------------------------------------------------------------

SKINCON_CONCEPTS = [
    "Vesicle",
    "Papule",
    "Macule",
    "Plaque",
    "Abscess",
    "Pustule",
    "Bulla",
    "Patch",
    "Nodule",
    "Ulcer",
    "Crust",
    "Erosion",
    "Excoriation",
    "Atrophy",
    "Exudate",
    "Purpura/Petechiae",
    "Fissure",
    "Induration",
    "Xerosis",
    "Telangiectasia",
    "Scale",
    "Scar",
    "Friable",
    "Sclerosis",
    "Pedunculated",
    "Exophytic/Fungating",
    "Warty/Papillomatous",
    "Dome-shaped",
    "Flat topped",
    "Brown(Hyperpigmentation)",
    "Translucent",
    "White(Hypopigmentation)",
    "Purple",
    "Yellow",
    "Black",
    "Erythema",
    "Comedo",
    "Lichenification",
    "Blue",
    "Umbilicated",
    "Poikiloderma",
    "Salmon",
    "Wheal",
    "Acuminate",
    "Burrow",
    "Gray",
    "Pigmented",
    "Cyst",
]


def write_skincon(root: Path, scale: float, rng: np.random.Generator, link: ImageLinker) -> None:
    splits, _ = sized("skincon", scale)
    top = root / "skincon"
    lines = [",".join(["", "ImageID", *SKINCON_CONCEPTS, "Do not consider this image"])]
    for i in range(splits["all"]):
        flags = (rng.random(len(SKINCON_CONCEPTS)) < 0.06).astype(int)
        flags[i % len(SKINCON_CONCEPTS)] = 1
        name = f"{i:08x}{'0' * 24}.jpg"
        lines.append(",".join([str(i), name, *map(str, flags), "0"]))
        link(top / "fitzpatrick17k" / name)
    _text(top / "annotations_fitzpatrick17k.csv", lines)


# --- Tianchi wine -------------------------------------------------------------------

WINE_CATEGORIES = [
    "瓶盖破损",
    "瓶盖变形",
    "瓶盖坏边",
    "瓶盖打旋",
    "瓶盖断点",
    "标贴歪斜",
    "标贴起皱",
    "标贴气泡",
    "喷码正常",
    "喷码异常",
]


def write_wine(root: Path, scale: float, rng: np.random.Generator, link: ImageLinker) -> None:
    from pytest_fgbmk.data.generic import hash_split
    from pytest_fgbmk.data.wine import TEST_FRACTION

    splits, _ = sized("wine", scale)
    top = root / "wine"
    images, anns = [], []
    for i in range(1, splits["all"] + 1):
        name = f"img_{i:07d}.jpg"
        images.append({"file_name": name, "id": i, "height": 492, "width": 658})
        for c in rng.choice(len(WINE_CATEGORIES), size=int(rng.integers(1, 3)), replace=False):
            anns.append(
                {
                    "area": 90.0,
                    "iscrowd": 0,
                    "image_id": i,
                    "bbox": [1, 2, 9, 10],
                    "category_id": int(c) + 1,
                    "id": len(anns) + 1,
                }
            )
        if hash_split(name, 0, TEST_FRACTION) == "test":
            link(top / "images" / name)
    cats = [{"supercategory": "背景", "id": 0, "name": "背景"}] + [
        {"supercategory": n, "id": k, "name": n} for k, n in enumerate(WINE_CATEGORIES, 1)
    ]
    doc = {
        "info": {"description": "replica"},
        "images": images,
        "annotations": anns,
        "categories": cats,
    }
    top.mkdir(parents=True, exist_ok=True)
    (top / "annotations.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


WRITERS: dict[str, Callable[[Path, float, np.random.Generator, ImageLinker], None]] = {
    "cub": write_cub,
    "stanford_dogs": write_dogs,
    "stanford_cars": write_cars,
    "fgvc_aircraft": write_aircraft,
    "flowers102": write_flowers,
    "food101": write_food,
    "inat2021": write_inat,
    "vegfru": write_vegfru,
    "products10k": write_products,
    "deepfashion": write_deepfashion,
    "skincon": write_skincon,
    "wine": write_wine,
}


def write_all(
    root: Path, scale: float, seed: int = 0, names: tuple[str, ...] | None = None
) -> dict[str, int]:
    """Write every replica (or those of ``names``) under ``root`` (the ``--fgbmk-data``
    folder). Returns, per dataset, the number of image files linked."""
    unknown = sorted(set(names or ()) - set(WRITERS))
    if unknown:
        raise SystemExit(
            f"--datasets: unknown {', '.join(unknown)}; choose from {', '.join(WRITERS)}"
        )
    link = ImageLinker(root.parent / "placeholder")
    linked = {}
    for name, write in WRITERS.items():
        if names is not None and name not in names:
            continue
        before = link.count
        write(root, scale, np.random.default_rng([seed, len(name)]), link)
        linked[name] = link.count - before
    return linked
