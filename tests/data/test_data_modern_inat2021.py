"""iNat2021: the COCO-style json layout and the taxonomy-named folder layout."""

from __future__ import annotations

import json

import pytest
from replicas_modern import INAT_CATEGORIES, inat_json_doc, write_inat_folders, write_inat_json

from pytest_fgbmk.data import inat2021
from pytest_fgbmk.errors import DataFormatError

ROSA_MAJALIS = (
    "Plantae",
    "Tracheophyta",
    "Magnoliopsida",
    "Rosales",
    "Rosaceae",
    "Rosa",
    "Rosa majalis",
)


def test_json_layout_exact_index(tmp_path):
    ds = inat2021.load(write_inat_json(tmp_path))
    assert ds.name == "inat2021" and ds.meta_category == "natural"
    assert ds.levels == ("kingdom", "phylum", "class", "order", "family", "genus", "species")
    # categories are ordered by id: 0 (the fish), 9449, 9450
    assert [c.name for c in ds.categories] == [
        "Abudefduf saxatilis",
        "Rosa majalis",
        "Rosa multiflora",
    ]
    assert [c.index for c in ds.categories] == [0, 1, 2]
    assert ds.categories[1].taxonomy == ROSA_MAJALIS
    assert ds.categories[1].synonyms == ("Cinnamon Rose",)
    assert ds.splits == ("train", "test")
    train = [(s.id, s.category, s.category_name) for s in ds.split("train")]
    assert train == [
        ("1", 1, "Rosa majalis"),
        ("2", 1, "Rosa majalis"),
        ("3", 2, "Rosa multiflora"),
        ("4", 0, "Abudefduf saxatilis"),
    ]
    test = ds.split("test")
    assert [(s.id, s.category) for s in test] == [("101", 1), ("102", 0)]
    s = test[0]
    assert s.path == (
        "val/09449_Plantae_Tracheophyta_Magnoliopsida_Rosales_Rosaceae_Rosa_majalis/00000101-uuid.jpg"
    )
    assert s.taxonomy == ROSA_MAJALIS and s.meta == "natural"
    assert ds.open_image(s).size == (4, 4)
    assert ds.skipped == ()
    assert inat2021.probe(tmp_path) is None


def test_folder_layout_gives_the_same_taxonomy(tmp_path):
    json_ds = inat2021.load(write_inat_json(tmp_path / "j"))
    ds = inat2021.load(write_inat_folders(tmp_path / "f"))
    assert ds.layout == "inat2021-folders"
    assert inat2021.probe(tmp_path / "f") is None
    assert [(c.name, c.taxonomy) for c in ds.categories] == [
        (c.name, c.taxonomy) for c in json_ds.categories
    ]
    by_path = {s.path: (s.category, s.split) for s in json_ds.samples}
    assert {s.path: (s.category, s.split) for s in ds.samples} == by_path
    assert all(s.id == s.path for s in ds.samples)


def test_loading_never_touches_images(tmp_path):
    ds = inat2021.load(write_inat_json(tmp_path, images=False))
    assert len(ds.samples) == 6
    with pytest.raises(DataFormatError, match="image file is missing"):
        ds.open_image(ds.samples[0])


def test_probe_names_what_it_looked_for(tmp_path):
    msg = inat2021.probe(tmp_path)
    assert msg is not None and "train.json" in msg and str(tmp_path) in msg
    with pytest.raises(DataFormatError, match="no iNat2021 index"):
        inat2021.load(tmp_path)


def _write(tmp_path, doc, name="train.json"):
    (tmp_path / name).write_text(json.dumps(doc))
    return tmp_path


def test_duplicate_image_id_across_files(tmp_path):
    write_inat_json(tmp_path, val=[(1, "val", 9449)], images=False)
    with pytest.raises(
        DataFormatError, match=r"val\.json: duplicate image id 1 \(already used in train\.json\)"
    ):
        inat2021.load(tmp_path)


def test_duplicate_image_id_in_one_file(tmp_path):
    _write(tmp_path, inat_json_doc([(5, "train", 0), (5, "train", 0)]))
    with pytest.raises(DataFormatError, match="duplicate image id 5"):
        inat2021.load(tmp_path)


def test_unknown_category_id(tmp_path):
    _write(tmp_path, inat_json_doc([(5, "train", 77)]))
    with pytest.raises(DataFormatError, match="unknown category_id 77"):
        inat2021.load(tmp_path)


def test_path_escaping_root(tmp_path):
    doc = inat_json_doc([(5, "train", 0)])
    doc["images"][0]["file_name"] = "../../etc/passwd"
    _write(tmp_path, doc)
    with pytest.raises(DataFormatError, match="escapes the dataset root"):
        inat2021.load(tmp_path)


def test_malformed_json_names_line(tmp_path):
    (tmp_path / "train.json").write_text('{"images": [\n{"id": 1,,}\n]}')
    with pytest.raises(DataFormatError) as e:
        inat2021.load(tmp_path)
    assert e.value.line == 2 and "not valid JSON" in str(e.value)


def test_missing_taxonomy_field(tmp_path):
    cat = dict(INAT_CATEGORIES[2])
    del cat["family"]
    _write(tmp_path, inat_json_doc([(5, "train", 0)], categories=[cat]))
    with pytest.raises(DataFormatError, match="lacks taxonomy fields: family"):
        inat2021.load(tmp_path)


def test_image_without_annotation_is_counted(tmp_path):
    doc = inat_json_doc([(5, "train", 0), (6, "train", 0)])
    doc["annotations"].pop()
    ds = inat2021.load(_write(tmp_path, doc))
    assert [s.id for s in ds.samples] == ["5"]
    assert ds.skipped == ("train.json: 1 image(s) without an annotation were left out",)


def test_annotation_of_unknown_image(tmp_path):
    doc = inat_json_doc([(5, "train", 0)])
    doc["annotations"].append({"id": 9, "image_id": 999, "category_id": 0})
    with pytest.raises(DataFormatError, match=r"not under 'images' \(e\.g\. 999\)"):
        inat2021.load(_write(tmp_path, doc))


def test_single_image_class_and_comma_in_path(tmp_path):
    doc = inat_json_doc([(5, "train", 9450)])
    doc["images"][0]["file_name"] = "train/odd, name/x.jpg"
    ds = inat2021.load(_write(tmp_path, doc))
    assert [(s.path, s.category_name) for s in ds.samples] == [
        ("train/odd, name/x.jpg", "Rosa multiflora")
    ]


def test_bad_folder_name_in_folder_form(tmp_path):
    (tmp_path / "train" / "not_a_taxon").mkdir(parents=True)
    (tmp_path / "val").mkdir()
    with pytest.raises(DataFormatError, match="folder name is not"):
        inat2021.load(tmp_path)


def test_two_image_ids_pointing_at_one_file_are_a_data_error(tmp_path):
    """Two ids of one image file would ask its questions twice under two ids; every
    layout is checked where datasets are loaded (load_found)."""
    from pytest_fgbmk.data.discovery import load_dataset

    doc = inat_json_doc([(1, "train", 9449), (2, "train", 9449), (3, "train", 9450)])
    doc["images"][1]["file_name"] = doc["images"][0]["file_name"].replace("/", "/./", 1)
    _write(tmp_path, doc)
    with pytest.raises(DataFormatError) as err:
        load_dataset("inat2021", tmp_path)
    first = doc["images"][0]["file_name"]
    assert str(err.value) == (
        f"{tmp_path}: dataset inat2021: samples '1' (train) and '2' (train) are the same "
        f"image file {first!r} (an index file lists this image twice; keep one entry, then "
        "rerun)"
    )


def test_entries_are_kept_lean_and_the_index_is_unchanged(tmp_path):
    """Image and annotation entries keep only the keys the loader reads as they are
    decoded (memory at 2.7M entries); the index and its hash equal a whole-dict read."""
    root = write_inat_json(tmp_path)
    doc = json.loads((root / "train.json").read_text())
    lean = inat2021._read_json(root / "train.json")
    assert lean["images"] == [{"id": i["id"], "file_name": i["file_name"]} for i in doc["images"]]
    assert lean["annotations"] == [
        {"image_id": a["image_id"], "category_id": a["category_id"]} for a in doc["annotations"]
    ]
    assert lean["categories"] == doc["categories"] and lean["info"] == doc["info"]
    # a UTF-8 byte-order mark is read as json.loads reads bytes
    (root / "val.json").write_bytes(b"\xef\xbb\xbf" + (root / "val.json").read_bytes())
    assert (
        inat2021.load(root).index_hash == inat2021.load(write_inat_json(tmp_path / "b")).index_hash
    )


def test_an_image_entry_without_a_file_name_is_named_whole(tmp_path):
    root = write_inat_json(tmp_path)
    doc = json.loads((root / "train.json").read_text())
    del doc["images"][0]["file_name"]
    (root / "train.json").write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match="an image lacks id/file_name: .*'rights_holder'"):
        inat2021.load(root)
