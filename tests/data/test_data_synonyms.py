"""Synonyms from the data: what each loader attaches, and the rule that drops clashing ones."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replicas_classic import write_aircraft
from replicas_modern import INAT_CATEGORIES, INAT_TRAIN, INAT_VAL, inat_json_doc, write_image

from pytest_fgbmk.data import aircraft, generic, inat2021
from pytest_fgbmk.data.records import Category, Dataset
from pytest_fgbmk.data.synonyms import checked_synonyms
from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.text import clashes, normalize

DUCKS = (
    Category(0, "Anas platyrhynchos", ("Anas", "Anas platyrhynchos"), ("Mallard", "mallard duck")),
    Category(1, "Anas diazi", ("Anas", "Anas diazi"), ("Mexican Mallard",)),
    Category(2, "Anas crecca", ("Anas", "Anas crecca"), ("Anas platyrhynchos", "Teal", "teal")),
    Category(
        3,
        "Aythya ferina",
        ("Aythya", "Aythya ferina"),
        ("Common Pochard",),
        (("Anas", "pochards"),),
    ),
    Category(4, "Aix sponsa", ("Aix", "Aix sponsa"), (), (("perching ducks",),)),
)


def test_clashing_synonyms_are_dropped_with_the_reason():
    cats, reasons = checked_synonyms(DUCKS, ("genus", "species"))
    assert [(c.name, c.synonyms, c.taxonomy_synonyms) for c in cats] == [
        # "Mallard" is held in another species' "Mexican Mallard" (and so the other way round)
        ("Anas platyrhynchos", ("mallard duck",), ()),
        ("Anas diazi", (), ()),
        # a synonym equal to another species' name goes; a repeat is kept once
        ("Anas crecca", ("Teal",), ()),
        # the genus synonym "Anas" is another genus' name
        ("Aythya ferina", ("Common Pochard",), (("pochards",),)),
        ("Aix sponsa", (), (("perching ducks",),)),
    ]
    assert reasons == (
        "1 synonym(s) at level 'genus' dropped: each clashes with the name or a synonym of "
        "another genus (e.g. 'Anas' of 'Aythya' with 'Anas')",
        "3 synonym(s) at level 'species' dropped: each clashes with the name or a synonym of "
        "another species (e.g. 'Mallard' of 'Anas platyrhynchos' with 'Anas diazi')",
    )
    assert [c.index for c in cats] == [0, 1, 2, 3, 4]


def test_categories_without_synonyms_come_back_as_they_were():
    plain = (Category(0, "a", ("a",)), Category(1, "a b", ("a b",)))
    cats, reasons = checked_synonyms(plain, ("category",))
    assert reasons == () and all(x is y for x, y in zip(cats, plain, strict=True))


def test_dataset_synonyms_per_level():
    cats, _ = checked_synonyms(DUCKS, ("genus", "species"))
    ds = Dataset("ducks", Path("/x"), "bird", ("genus", "species"), cats, ())
    assert ds.synonyms_at(0) == {"Aythya": ("pochards",), "Aix": ("perching ducks",)}
    assert ds.synonyms_at(1) == {
        "Anas platyrhynchos": ("mallard duck",),
        "Anas crecca": ("Teal",),
        "Aythya ferina": ("Common Pochard",),
    }
    assert ds.synonyms_at(2) == {} and ds.synonyms_at(-1) == {}


WORDS = st.sampled_from(["red", "rose", "wild", "Rose", "red-rose", "fox"])
PHRASE = st.lists(WORDS, min_size=1, max_size=3).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(PHRASE, st.lists(PHRASE, max_size=3)), min_size=1, max_size=5))
def test_kept_synonyms_never_clash_with_another_entry(entries):
    """Against the pairwise rule: kept iff it clashes with no name or synonym of another."""
    names: dict[str, list[str]] = {}
    for name, _ in entries:
        names.setdefault(name, [])
    for name, syns in entries:
        names[name].extend(syns)
    cats = tuple(Category(i, n, (n,), tuple(s)) for i, (n, s) in enumerate(names.items()))
    got, _ = checked_synonyms(cats, ("category",))
    others_of = {n: [t for o, ts in names.items() if o != n for t in (o, *ts)] for n in names}
    for c in got:
        others = others_of[c.name]
        expected: list[str] = []
        for s in names[c.name]:
            if any(clashes(s, t) for t in others):
                continue
            if all(normalize(s) != normalize(k) for k in expected):
                expected.append(s)
        assert list(c.synonyms) == expected


# --- iNat2021 -------------------------------------------------------------------------------


def _write_inat(root, categories):
    root.mkdir(parents=True, exist_ok=True)
    for split, items in (("train", INAT_TRAIN), ("val", INAT_VAL)):
        doc = inat_json_doc(items, categories)
        (root / f"{split}.json").write_text(json.dumps(doc), encoding="utf-8")
        for img in doc["images"]:
            write_image(root / img["file_name"])
    return root


def test_inat_common_name_and_a_differing_json_name_are_synonyms(tmp_path):
    cats = copy.deepcopy(INAT_CATEGORIES)
    cats[0]["name"] = "Rosa cinnamomea"  # an older name the json may carry beside the binomial
    ds = inat2021.load(_write_inat(tmp_path, cats))
    assert [(c.name, c.synonyms, c.taxonomy_synonyms) for c in ds.categories] == [
        ("Abudefduf saxatilis", ("Sergeant Major",), ()),
        ("Rosa majalis", ("Cinnamon Rose", "Rosa cinnamomea"), ()),
        ("Rosa multiflora", ("multiflora rose",), ()),
    ]
    assert ds.skipped == ()


def test_inat_common_name_naming_another_species_is_dropped(tmp_path):
    cats = copy.deepcopy(INAT_CATEGORIES)
    cats[2]["common_name"] = "rosa majalis"  # the fish's "common name" is a rose's binomial
    cats[1]["common_name"] = "rose"  # held in "Cinnamon Rose" and "multiflora rose"
    ds = inat2021.load(_write_inat(tmp_path, cats))
    assert [(c.name, c.synonyms) for c in ds.categories] == [
        ("Abudefduf saxatilis", ()),
        ("Rosa majalis", ()),
        ("Rosa multiflora", ()),
    ]
    assert ds.skipped == (
        "3 synonym(s) at level 'species' dropped: each clashes with the name or a synonym of "
        "another species (e.g. 'rosa majalis' of 'Abudefduf saxatilis' with 'Rosa majalis')",
    )


# --- FGVC-Aircraft --------------------------------------------------------------------------


def test_aircraft_raw_family_names_are_family_synonyms(tmp_path):
    write_aircraft(tmp_path / "fgvc-aircraft-2013b")
    ds = aircraft.load(tmp_path)
    assert [(c.taxonomy[1], c.taxonomy_synonyms) for c in ds.categories] == [
        ("Boeing 707", ()),  # families.txt already names the maker
        ("Boeing 737", ()),
        ("BAE 146", ()),
        ("Cessna 172", ()),
        ("Douglas DC-3", ((), ("DC-3",))),
        ("Tupolev Tu-134", ((), ("Tu-134",))),
    ]
    assert ds.synonyms_at(1) == {
        "Douglas DC-3": ("DC-3",),
        "Tupolev Tu-134": ("Tu-134",),
    }
    assert ds.synonyms_at(0) == {} and ds.skipped == ()


# --- generic manifest -----------------------------------------------------------------------

MANIFEST = """path,label,split,level:genus,synonyms,synonyms:genus
a.jpg,Rosa majalis,train,Rosa,Cinnamon Rose|cinnamon rose|Rosa cinnamomea,roses
b.jpg,Rosa majalis,test,Rosa,,
c.jpg,Rubus idaeus,train,Rubus,raspberry,
d.jpg,Rubus caesius,test,Rubus,Rubus idaeus|dewberry,brambles
"""


def test_manifest_synonyms_columns(tmp_path):
    (tmp_path / "manifest.csv").write_text(MANIFEST)
    ds = generic.load(tmp_path)
    assert [(c.name, c.taxonomy, c.synonyms, c.taxonomy_synonyms) for c in ds.categories] == [
        (
            "Rosa majalis",
            ("Rosa", "Rosa majalis"),
            ("Cinnamon Rose", "Rosa cinnamomea"),
            (("roses",),),
        ),
        ("Rubus idaeus", ("Rubus", "Rubus idaeus"), ("raspberry",), (("brambles",),)),
        ("Rubus caesius", ("Rubus", "Rubus caesius"), ("dewberry",), (("brambles",),)),
    ]
    assert ds.skipped == (
        "1 synonym(s) at level 'category' dropped: each clashes with the name or a synonym of "
        "another category (e.g. 'Rubus idaeus' of 'Rubus caesius' with 'Rubus idaeus')",
    )
    assert ds.synonyms_at(0) == {"Rosa": ("roses",), "Rubus": ("brambles",)}


def test_manifest_without_synonym_columns_has_none(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,label\nx.jpg,a\ny.jpg,b\n")
    ds = generic.load(tmp_path)
    assert [(c.synonyms, c.taxonomy_synonyms) for c in ds.categories] == [((), ()), ((), ())]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "path,label,synonyms\nx.jpg,a,b\ny.jpg,a,c\n",
            3,
            r"'a' has synonyms c here but b at line 2",
        ),
        (
            "path,label,level:genus,synonyms:genus\nx.jpg,a,G,g1\ny.jpg,b,G,g2\n",
            3,
            r"'G' has synonyms g2 here but g1 at line 2",
        ),
        ("path,label,synonyms:genus\nx.jpg,a,g\n", 1, r"column 'synonyms:genus' names no taxonomy"),
        (
            "path,label,synonyms\nx.jpg,a|b,c\n",
            2,
            r"synonyms on a row with several labels \(a\|b\)",
        ),
    ],
)
def test_manifest_synonym_errors(tmp_path, text, line, message):
    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(DataFormatError, match=message) as e:
        generic.load(tmp_path)
    assert e.value.line == line and e.value.path == tmp_path / "manifest.csv"
