"""Generic data: ImageFolder trees and CSV manifests."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replicas_modern import write_image

from pytest_fgbmk.data import generic
from pytest_fgbmk.errors import DataFormatError


def test_image_folder_with_split_folders(tmp_path):
    for rel in [
        "train/001.Black_footed_Albatross/a.jpg",
        "train/001.Black_footed_Albatross/b.png",
        "train/002.Laysan_Albatross/c.jpg",
        "test/001.Black_footed_Albatross/d.jpg",
        "test/003.Sooty_Albatross/only.jpg",
    ]:
        write_image(tmp_path / rel)
    (tmp_path / "train/002.Laysan_Albatross/notes.txt").write_text("x")
    ds = generic.load(tmp_path)
    assert ds.layout == "imagefolder" and generic.probe(tmp_path) is None
    assert [c.name for c in ds.categories] == [
        "Black footed Albatross",
        "Laysan Albatross",
        "Sooty Albatross",
    ]
    assert [(s.path, s.category, s.split) for s in ds.samples] == [
        ("train/001.Black_footed_Albatross/a.jpg", 0, "train"),
        ("train/001.Black_footed_Albatross/b.png", 0, "train"),
        ("train/002.Laysan_Albatross/c.jpg", 1, "train"),
        ("test/001.Black_footed_Albatross/d.jpg", 0, "test"),
        ("test/003.Sooty_Albatross/only.jpg", 2, "test"),
    ]
    assert ds.skipped == ("1 file(s) without an image suffix were left out",)
    assert ds.open_image(ds.samples[0]).size == (4, 4)


def test_image_folder_without_splits_is_seeded(tmp_path):
    for c in ("cat_a", "cat_b"):
        for i in range(30):
            write_image(tmp_path / c / f"{i}.jpg")
    ds = generic.load(tmp_path)
    again = generic.load(tmp_path)
    assert [s.split for s in ds.samples] == [s.split for s in again.samples]
    assert [s.split for s in ds.samples] == [generic.hash_split(s.path) for s in ds.samples]
    counts = Counter(s.split for s in ds.samples)
    assert counts["train"] + counts["test"] == 60 and counts["test"] > 0
    other_seed = generic.load(tmp_path, seed=1)
    assert [s.split for s in other_seed.samples] != [s.split for s in ds.samples]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=40, unique=True),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_hash_split_is_per_key(keys, fraction):
    full = {k: generic.hash_split(k, 3, fraction) for k in keys}
    # removing items never moves the others
    assert {k: generic.hash_split(k, 3, fraction) for k in keys[::2]} == {
        k: full[k] for k in keys[::2]
    }
    if fraction == 0.0:
        assert set(full.values()) == {"train"}


def test_not_a_tree(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    assert "manifest.csv" in generic.probe(tmp_path)
    with pytest.raises(DataFormatError, match="not an ImageFolder tree"):
        generic.load(tmp_path)


MANIFEST = """path,label,split,level:family,level:genus,attr:wing color,attr:size
birds/a, one.jpg,Rosa majalis,train,Rosaceae,Rosa,red|black,small
birds/b.jpg,Rosa majalis,test,Rosaceae,Rosa,red,
birds/c.jpg,Rubus idaeus,train,Rosaceae,Rubus,,large
"""


def test_manifest_exact(tmp_path):
    (tmp_path / "manifest.csv").write_text(
        MANIFEST.replace("birds/a, one.jpg", '"birds/a, one.jpg"')
    )
    ds = generic.load(tmp_path, name="mine", meta="plant")
    assert ds.layout == "manifest" and ds.name == "mine" and ds.meta_category == "plant"
    assert ds.levels == ("family", "genus", "category")
    assert [(c.name, c.taxonomy) for c in ds.categories] == [
        ("Rosa majalis", ("Rosaceae", "Rosa", "Rosa majalis")),
        ("Rubus idaeus", ("Rosaceae", "Rubus", "Rubus idaeus")),
    ]
    assert [(s.path, s.category, s.split) for s in ds.samples] == [
        ("birds/a, one.jpg", 0, "train"),
        ("birds/b.jpg", 0, "test"),
        ("birds/c.jpg", 1, "train"),
    ]
    assert ds.samples[0].attribute_values() == {
        "wing color": frozenset({"red", "black"}),
        "size": frozenset({"small"}),
    }
    assert ds.samples[2].attribute_values() == {"size": frozenset({"large"})}
    assert [(g.name, g.values, g.multi) for g in ds.attribute_groups] == [
        ("wing color", ("red", "black"), True),
        ("size", ("small", "large"), False),
    ]
    assert not ds.multilabel


def test_manifest_multilabel_and_no_split(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,label\nx.jpg,a|b\ny.jpg,b\n")
    ds = generic.load(tmp_path)
    assert ds.multilabel
    assert [(s.labels, s.category) for s in ds.samples] == [((0, 1), 0), ((1,), 1)]
    assert [s.split for s in ds.samples] == [
        generic.hash_split("x.jpg"),
        generic.hash_split("y.jpg"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("path,split\nx.jpg,train\n", 1, "header lacks a 'label' column"),
        ("path,label,colour\nx.jpg,a,red\n", 1, "unknown column 'colour'"),
        ("path,label,split\nx.jpg,a\n", 2, r"expected 3 fields \(path,label,split\), got 2"),
        ("path,label,split\nx.jpg,a,dev\n", 2, "split must be one of train, val, test"),
        ("path,label\nx.jpg,a\nx.jpg,b\n", 3, r"duplicate image 'x.jpg' \(first at line 2\)"),
        ("path,label\n../x.jpg,a\n", 2, "escapes the dataset root"),
        (
            "path,label,level:genus\nx.jpg,a,G\ny.jpg,a,H\n",
            3,
            "label 'a' has taxonomy H/a here but G/a at line 2",
        ),
        ("path,label\nx.jpg,\n", 2, "empty label"),
    ],
)
def test_manifest_errors(tmp_path, text, line, message):
    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(DataFormatError, match=message) as e:
        generic.load(tmp_path)
    assert e.value.line == line and e.value.path == tmp_path / "manifest.csv"


def test_display_name():
    assert generic.display_name("001.Black_footed_Albatross") == "Black footed Albatross"
    assert generic.display_name("n02085620-Chihuahua") == "n02085620-Chihuahua"
    assert generic.display_name("12_red_fox") == "red fox"
