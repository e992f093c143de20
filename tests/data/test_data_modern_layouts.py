"""VegFru, Products-10K, DeepFashion, SkinCon and Tianchi wine on faithful replicas."""

from __future__ import annotations

import dataclasses
import re

import pytest
from replicas_modern import (
    DF_ATTRS,
    wine_doc,
    write_deepfashion,
    write_products10k,
    write_skincon,
    write_vegfru,
    write_wine,
)

from pytest_fgbmk.data import deepfashion, generic, products10k, skincon, vegfru, wine
from pytest_fgbmk.errors import DataFormatError

# --- VegFru ---------------------------------------------------------------------------------


def test_vegfru_with_sup_lists(tmp_path):
    ds = vegfru.load(write_vegfru(tmp_path))
    assert vegfru.probe(tmp_path) is None
    assert ds.levels == ("type", "sup", "category")
    assert [(c.index, c.name, c.taxonomy) for c in ds.categories] == [
        (0, "leek", ("vegetable", "vegetable group 0", "leek")),
        (1, "chinese cabbage", ("vegetable", "vegetable group 1", "chinese cabbage")),
        (2, "blood orange", ("fruit", "fruit group 17", "blood orange")),
    ]
    assert [(s.path, s.category, s.split) for s in ds.samples] == [
        ("veg200_images/chinese_cabbage/v_001.jpg", 1, "train"),
        ("veg200_images/chinese_cabbage/v_002.jpg", 1, "train"),
        ("fru92_images/blood orange/f_001.jpg", 2, "train"),
        ("veg200_images/chinese_cabbage/v_003.jpg", 1, "val"),
        ("fru92_images/blood orange/f_002.jpg", 2, "test"),
        ("veg200_images/leek/l_1.jpg", 0, "test"),
    ]


def test_vegfru_without_sup_lists(tmp_path):
    ds = vegfru.load(write_vegfru(tmp_path, with_sup=False))
    assert ds.levels == ("type", "category")
    assert ds.categories[2].taxonomy == ("fruit", "blood orange")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("veg200_images/leek/a.jpg\n", "expected '<image path> <label>'"),
        ("veg200_images/leek/a.jpg x\n", "label must be an integer"),
        ("veg200_images/leek/a.jpg 3\n", "label 3 is folder 'leek' here but 'chinese_cabbage'"),
        ("veg200_images/chinese_cabbage/v_001.jpg 3\n", "duplicate image"),
        ("../veg/x.jpg 3\n", "escapes the dataset root"),
    ],
)
def test_vegfru_bad_lines(tmp_path, text, message):
    write_vegfru(tmp_path, with_sup=False)
    (tmp_path / "vegfru_list" / "vegfru_test.txt").write_text(text)
    with pytest.raises(DataFormatError, match=message) as e:
        vegfru.load(tmp_path)
    assert e.value.path.name == "vegfru_test.txt" and e.value.line == 1


def test_vegfru_sup_list_must_match(tmp_path):
    write_vegfru(tmp_path)
    (tmp_path / "vegfru_list" / "supvegfru_test.txt").write_text("veg200_images/leek/l_1.jpg 0\n")
    with pytest.raises(DataFormatError, match="lacks 'fru92_images/blood orange/f_002.jpg'"):
        vegfru.load(tmp_path)
    assert "vegfru_list/vegfru_train.txt" in vegfru.probe(tmp_path / "nothing")


# --- Products-10K ---------------------------------------------------------------------------


def test_products10k(tmp_path):
    ds = products10k.load(write_products10k(tmp_path))
    assert products10k.probe(tmp_path) is None
    assert [(c.name, c.taxonomy) for c in ds.categories] == [
        ("product 0", ("group 0", "product 0")),
        ("product 7", ("group 3", "product 7")),
    ]
    assert [(s.path, s.category, s.split) for s in ds.samples] == [
        ("train/0.jpg", 0, "train"),
        ("train/1.jpg", 0, "train"),
        ("train/2.jpg", 1, "train"),
        ("test/100.jpg", 1, "test"),
        ("test/101.jpg", 0, "test"),
    ]


def test_products10k_test_file_with_group_and_unknown_class(tmp_path):
    write_products10k(tmp_path)
    (tmp_path / "test_kaggletest.csv").write_text("name,class,group,Usage\n5.jpg,9,4,Public\n")
    ds = products10k.load(tmp_path)
    assert ds.categories[-1].taxonomy == ("group 4", "product 9")
    (tmp_path / "test_kaggletest.csv").write_text(
        "name,class,Usage\n5.jpg,0,Public\n6.jpg,42,Public\n"
    )
    with pytest.raises(DataFormatError, match="unknown class id 42") as e:
        products10k.load(tmp_path)
    assert e.value.line == 3


@pytest.mark.parametrize(
    ("train", "line", "message"),
    [
        ("name,class,group\n0.jpg,0,0\n0.jpg,0,0\n", 3, "duplicate image"),
        ("name,class,group\n0.jpg,0\n", 2, "expected 3 fields"),
        ("name,class,group\n0.jpg,zero,0\n", 2, "class must be an integer"),
        ("name,class,group\n0.jpg,1,0\n1.jpg,1,2\n", 3, "class 1 is in group 2 here but group 0"),
        ('name,class,group\n"a,b.jpg",1,0\n../../x.jpg,1,0\n', 3, "escapes the dataset root"),
    ],
)
def test_products10k_bad_rows(tmp_path, train, line, message):
    (tmp_path / "train.csv").write_text(train)
    with pytest.raises(DataFormatError, match=message) as e:
        products10k.load(tmp_path)
    assert e.value.line == line


# --- DeepFashion ----------------------------------------------------------------------------


def test_deepfashion_categories_splits_attributes(tmp_path):
    ds = deepfashion.load(write_deepfashion(tmp_path))
    assert deepfashion.probe(tmp_path) is None
    assert [c.name for c in ds.categories] == ["Anorak", "Blazer", "Capris"]
    assert [(s.path, s.category, s.split) for s in ds.samples] == [
        ("img/Hooded_Cotton_Anorak/img_00000001.jpg", 0, "train"),
        ("img/Boxy_Blazer/img_00000001.jpg", 1, "val"),
        ("img/Boxy_Blazer/img_00000002.jpg", 1, "test"),
    ]
    assert [(g.name, g.values, g.kind) for g in ds.attribute_groups] == [
        ("texture", ("abstract chevron", "floral"), "pattern"),
        ("fabric", ("chiffon",), "other"),
        ("shape", ("a-line",), "shape"),
        ("part", ("collar",), "other"),
        ("style", ("boho",), "other"),
    ]
    assert ds.samples[0].attribute_values() == {
        "texture": frozenset({"abstract chevron", "floral"})
    }
    # 0 (unknown) is not a positive
    assert ds.samples[1].attribute_values() == {"shape": frozenset({"a-line"})}
    assert ds.samples[2].annotations == ()


def test_deepfashion_errors(tmp_path):
    write_deepfashion(tmp_path / "a", attr_rows=["1 -1 -1 -1 -1", "1 1 1 1 1 1", "1 1 1 1 1 1"])
    with pytest.raises(DataFormatError, match="expected an image name and 6 values") as e:
        deepfashion.load(tmp_path / "a")
    assert (e.value.path.name, e.value.line) == ("list_attr_img.txt", 3)

    write_deepfashion(tmp_path / "b", attr_rows=["1 -1 -1 -1 -1 2", "1 1 1 1 1 1", "1 1 1 1 1 1"])
    with pytest.raises(DataFormatError, match="got '2'"):
        deepfashion.load(tmp_path / "b")

    root = write_deepfashion(tmp_path / "c")
    p = root / "Anno" / "list_category_img.txt"
    p.write_text(re.sub(r"(img_00000002\.jpg)\s+2\n", r"\1 51\n", p.read_text()))
    with pytest.raises(
        DataFormatError, match=r"unknown category_label 51 \(list_category_cloth.txt has 1..3\)"
    ) as e:
        deepfashion.load(root)
    assert e.value.line == 5

    root = write_deepfashion(tmp_path / "d")
    p = root / "Eval" / "list_eval_partition.txt"
    p.write_text(p.read_text().replace("3\n", "4\n", 1))
    with pytest.raises(DataFormatError, match="first line says 4 entries but the file holds 3"):
        deepfashion.load(root)
    assert "list_category_img.txt" in deepfashion.probe(tmp_path)


def test_deepfashion_attribute_types(tmp_path):
    assert {t for _, t in DF_ATTRS} == set(deepfashion.ATTRIBUTE_TYPES)


# --- SkinCon --------------------------------------------------------------------------------


def test_skincon_multilabel_concepts(tmp_path):
    ds = skincon.load(write_skincon(tmp_path))
    assert skincon.probe(tmp_path) is None
    assert ds.multilabel and ds.levels == ("skin concept",)
    assert [c.name for c in ds.categories] == [
        "vesicle",
        "papule",
        "macule",
        "plaque",
        "purpura/petechiae",
        "brown(hyperpigmentation)",
    ]
    assert [(s.id, s.path, s.labels, s.category) for s in ds.samples] == [
        ("aaa.jpg", "fitzpatrick17k/aaa.jpg", (1, 3), 1),
        ("bbb.jpg", "fitzpatrick17k/bbb.jpg", (4,), 4),
    ]
    assert [s.split for s in ds.samples] == [
        generic.hash_split(i, 0, 0.3) for i in ("aaa.jpg", "bbb.jpg")
    ]
    assert ds.samples[0].attribute_values() == {"concept": frozenset({"papule", "plaque"})}
    assert ds.attribute_groups[0].values == tuple(c.name for c in ds.categories)
    assert ds.skipped == (
        "1 row(s) marked 'Do not consider this image' were left out",
        "1 row(s) with no concept marked were left out",
        f"1 image(s) listed in annotations_fitzpatrick17k.csv are not in {tmp_path / 'fitzpatrick17k'} and were left out",
    )
    assert ds.open_image(ds.samples[0]).size == (4, 4)


def test_skincon_bad_rows(tmp_path):
    root = write_skincon(tmp_path)
    csv_path = root / "annotations_fitzpatrick17k.csv"
    text = csv_path.read_text()
    csv_path.write_text(text + "5,aaa.jpg,0,1,0,0,0,0,0\n")
    with pytest.raises(
        DataFormatError, match="duplicate ImageID 'aaa.jpg' \\(first at line 2\\)"
    ) as e:
        skincon.load(root)
    assert e.value.line == 7
    csv_path.write_text(text + "5,fff.jpg,0,2,0,0,0,0,0\n")
    with pytest.raises(DataFormatError, match="column 'Papule' must be 0 or 1, got '2'"):
        skincon.load(root)
    csv_path.write_text(text + "5,../fff.jpg,0,1,0,0,0,0,0\n")
    with pytest.raises(DataFormatError, match="escapes the dataset root"):
        skincon.load(root)


# --- Tianchi wine ---------------------------------------------------------------------------


def test_wine_multilabel_from_boxes(tmp_path):
    ds = wine.load(write_wine(tmp_path))
    assert wine.probe(tmp_path) is None and ds.multilabel
    assert [(c.name, c.taxonomy, c.synonyms) for c in ds.categories] == [
        ("background", ("background", "background"), ("背景",)),
        ("broken cap", ("cap", "broken cap"), ("瓶盖破损",)),
        ("wrinkled label", ("label", "wrinkled label"), ("标贴起皱",)),
        ("normal inkjet code", ("inkjet code", "normal inkjet code"), ("喷码正常",)),
    ]
    assert [(s.id, s.path, s.labels, s.category_name) for s in ds.samples] == [
        ("1", "images/img_0000001.jpg", (1, 3), "broken cap"),
        ("2", "images/img_0000002.jpg", (2,), "wrinkled label"),
    ]
    assert ds.skipped == ("1 image(s) without an annotation were left out",)


def test_wine_errors(tmp_path):
    doc = wine_doc()
    doc["annotations"][0]["category_id"] = 99
    with pytest.raises(DataFormatError, match="unknown category_id 99"):
        wine.load(write_wine(tmp_path / "a", doc))
    doc = wine_doc()
    doc["images"].append(dict(doc["images"][0]))
    with pytest.raises(DataFormatError, match="duplicate image id 1"):
        wine.load(write_wine(tmp_path / "b", doc))
    doc = wine_doc()
    doc["images"][0]["file_name"] = "../../x.jpg"
    with pytest.raises(DataFormatError, match="escapes the dataset root"):
        wine.load(write_wine(tmp_path / "c", doc))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "annotations.json").write_text('{"images": [\n,]}')
    with pytest.raises(DataFormatError, match="not valid JSON") as e:
        wine.load(tmp_path / "d")
    assert e.value.line == 2


def test_skincon_attribute_and_granularity_cases_have_distinct_ids(tmp_path):
    """SkinCon's attribute group and its one level were both 'concept': the attribute and
    granularity cases shared the ids skincon-concept-tf/-mc, so the run built one case's
    questions for both and kept one of the two results."""
    from pytest_fgbmk.data.discovery import load_dataset
    from pytest_fgbmk.questions.cases import build_questions, cases_for

    ds = load_dataset("skincon", write_skincon(tmp_path))
    cases = cases_for(ds)
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    assert {"skincon-concept-tf", "skincon-skin_concept-tf"} <= set(ids)
    by_id = {c.id: c for c in cases}
    attribute = build_questions(ds, by_id["skincon-concept-tf"])
    granularity = build_questions(ds, by_id["skincon-skin_concept-tf"])
    assert {q.task for q in attribute} == {"attribute"}
    assert {q.task for q in granularity} == {"granularity"}


def test_a_level_and_an_attribute_group_of_one_name_are_a_data_error(tmp_path, monkeypatch):
    from pytest_fgbmk.data.discovery import check_distinct_facets, load_found
    from pytest_fgbmk.errors import ConfigError
    from pytest_fgbmk.questions.cases import cases_for

    folder = write_skincon(tmp_path)
    monkeypatch.setattr(skincon, "LEVEL", "concept")
    with pytest.raises(DataFormatError) as e:
        load_found("skincon", folder)
    assert str(e.value).startswith(
        f"{folder}: dataset skincon: attribute group 'concept' and taxonomy level 'concept' "
        "have the same name, so their cases would share one id"
    )
    ds = skincon.load(folder)  # built by a script, past the loader's check
    with pytest.raises(ConfigError, match="would share the id skincon-concept-tf"):
        cases_for(ds)
    spaced = dataclasses.replace(ds, levels=("wing color",))
    spaced = dataclasses.replace(
        spaced,
        attribute_groups=(dataclasses.replace(ds.attribute_groups[0], name="wing_color"),),
    )
    with pytest.raises(DataFormatError, match="'wing_color' and taxonomy level 'wing color'"):
        check_distinct_facets(spaced, folder)
