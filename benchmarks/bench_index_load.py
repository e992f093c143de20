"""Index load time of the iNat2021 json layout, per 100k samples, against a bare json.load.

Writes a realistic-size ``train.json`` (every image and category field iNat2021 has) to a
temporary folder, then times :func:`pytest_fgbmk.data.inat2021.load` beside the bare
``json.load`` of the same file; the ratio is our overhead over parsing.

    python benchmarks/bench_index_load.py [--images 500000] [--categories 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_fgbmk.data import inat2021  # noqa: E402

KINGDOMS = ("Animalia", "Plantae", "Fungi")


def write_train_json(path: Path, n_images: int, n_categories: int) -> None:
    """A train.json shaped like iNat2021's, streamed to disk."""
    cats = []
    for c in range(n_categories):
        genus, epithet = f"Genus{c // 4}", f"epithet{c}"
        dir_name = f"{c:05d}_{KINGDOMS[c % 3]}_Phylum{c % 13}_Class{c % 51}_Order{c % 273}_Family{c % 1103}_{genus}_{epithet}"
        cats.append(
            {
                "id": c,
                "name": f"{genus} {epithet}",
                "common_name": f"common {c}",
                "supercategory": "Plants",
                "kingdom": KINGDOMS[c % 3],
                "phylum": f"Phylum{c % 13}",
                "class": f"Class{c % 51}",
                "order": f"Order{c % 273}",
                "family": f"Family{c % 1103}",
                "genus": genus,
                "specific_epithet": epithet,
                "image_dir_name": dir_name,
            }
        )
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"info": {"year": 2021}, "licenses": [], "categories": ')
        json.dump(cats, fh)
        fh.write(', "images": [')
        for i in range(n_images):
            c = i % n_categories
            img = {
                "id": i,
                "width": 500,
                "height": 375,
                "file_name": f"train/{cats[c]['image_dir_name']}/{i:08x}-4b2c-4e5a-9f3d-0c1e2a3b4c5d.jpg",
                "license": 0,
                "rights_holder": "someone",
                "date": "2019-07-01 10:00:00+00:00",
                "latitude": 45.1,
                "longitude": 7.2,
                "location_uncertainty": 10,
            }
            fh.write(("," if i else "") + json.dumps(img))
        fh.write('], "annotations": [')
        for i in range(n_images):
            ann = {"id": i, "image_id": i, "category_id": i % n_categories}
            fh.write(("," if i else "") + json.dumps(ann))
        fh.write("]}")


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500_000)
    ap.add_argument("--categories", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "train.json"
        write_train_json(path, args.images, args.categories)
        size_mb = path.stat().st_size / 1e6

        def bare() -> None:
            with path.open("rb") as fh:
                json.load(fh)

        ds = inat2021.load(root)
        assert len(ds.samples) == args.images and len(ds.categories) == args.categories
        del ds
        t_ref = best_of(args.repeat, bare)
        t_ours = best_of(args.repeat, lambda: inat2021.load(root))
    per = 100_000 / args.images
    print(
        f"iNat2021 train.json: {args.images} images, {args.categories} categories, {size_mb:.0f} MB"
    )
    print(f"reference json.load : {t_ref * per:.3f} s per 100k samples")
    print(f"inat2021.load       : {t_ours * per:.3f} s per 100k samples")
    print(f"ratio (ours / json.load): {t_ours / t_ref:.2f}x")


if __name__ == "__main__":
    with reported():
        main()
