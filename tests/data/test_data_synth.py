"""The bundled synthetic datasets: round trip through the real loaders, determinism, cache,
and that every label is visible in the pixels."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_fgbmk.data import cub, inat2021, synth, synth_birds, synth_flowers
from pytest_fgbmk.data.records import CERTAINTY_DEFINITELY
from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, generate, load_synthetic
from pytest_fgbmk.data.synth_design import BRANCHING
from pytest_fgbmk.data.synth_render import COLORS, render_bird, render_flower
from pytest_fgbmk.errors import ConfigError, DataFormatError
from tests.harness import in_fresh_interpreters

#: 13 species: two orders, three families, five genera (the last with one species).
SMALL = SynthConfig(species_per_meta=13, images_per_species=4, size=48, seed=3)
TINY = SynthConfig(species_per_meta=2, images_per_species=2, size=32, seed=1)
META_MODULES = {"synth_birds": synth_birds, "synth_flowers": synth_flowers}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "root"
    drawn = generate(SMALL, root)
    return root, drawn, {ds.name: ds for ds in load_synthetic(root)}


# --- round trip through the real loaders ----------------------------------------------------


def test_load_synthetic_returns_both_datasets_with_names_and_meta(rendered):
    _, _, datasets = rendered
    birds, flowers = datasets["synth_birds"], datasets["synth_flowers"]
    assert (birds.meta_category, flowers.meta_category) == ("bird", "flower")
    assert birds.levels == ("class", "order", "family", "genus", "species")
    assert flowers.levels == ("kingdom", "phylum", "class", "order", "family", "genus", "species")
    assert {s.meta for s in birds.samples} == {"bird"}
    assert {s.meta for s in flowers.samples} == {"flower"}
    assert birds.layout == "CUB-200-2011" and flowers.layout == "inat2021-json"


@pytest.mark.parametrize("name", ["synth_birds", "synth_flowers"])
def test_every_drawn_image_loads_back_with_its_species_and_split(rendered, name):
    _, drawn, datasets = rendered
    ds = datasets[name]
    loaded = {s.path: (s.category, s.category_name, s.split) for s in ds.samples}
    expected = {d.path: (d.species, ds.categories[d.species].name, d.split) for d in drawn[name]}
    assert loaded == expected
    assert len(ds.samples) == 13 * 4
    for c in ds.categories:
        splits = [s.split for s in ds.samples if s.category == c.index]
        assert splits.count("train") == SMALL.n_train == 2
        assert splits.count("test") == 2


def test_bird_taxonomy_is_the_designed_one_with_cub_genus_rule(rendered):
    _, _, datasets = rendered
    ds = datasets["synth_birds"]
    expected = synth_birds.taxonomy(synth_birds.species_designs(13))
    assert [c.taxonomy for c in ds.categories] == expected
    assert [c.name for c in ds.categories] == [t[-1] for t in expected]
    for c in ds.categories:
        assert c.taxonomy[0] == "aves"
        assert c.taxonomy[3] == c.name.split()[-1]  # genus = last word of the common name
    assert len({c.taxonomy[1] for c in ds.categories}) == 2  # orders
    assert len({c.taxonomy[2] for c in ds.categories}) == 3  # families
    assert len({c.taxonomy[3] for c in ds.categories}) == 5  # genera
    for s in ds.samples:
        assert s.taxonomy == ds.categories[s.category].taxonomy


def test_flower_taxonomy_is_the_designed_one_in_inat_form(rendered):
    _, _, datasets = rendered
    ds = datasets["synth_flowers"]
    expected = synth_flowers.taxonomy(synth_flowers.species_designs(13))
    for c, t in zip(ds.categories, expected, strict=True):
        assert c.name == f"{t['genus']} {t['specific_epithet']}"
        assert c.taxonomy == (
            "Plantae",
            "Tracheophyta",
            t["class"],
            t["order"],
            t["family"],
            t["genus"],
            c.name,
        )
        assert c.synonyms == (t["common_name"],)
        assert re.fullmatch(r"[A-Z][a-z]+ [a-z]+", c.name)
        assert c.taxonomy[3].endswith("ales") and c.taxonomy[4].endswith("aceae")


@pytest.mark.parametrize("name", ["synth_birds", "synth_flowers"])
def test_attributes_load_back_exactly_as_drawn(rendered, name):
    _, _, datasets = rendered
    ds = datasets[name]
    module = META_MODULES[name]
    designs = module.species_designs(13)
    assert [(g.name, g.values, g.kind) for g in ds.attribute_groups] == [
        (n, v, k) for n, k, v in module.GROUPS
    ]
    for s in ds.samples:
        got = sorted((a.group, a.value, a.certainty) for a in s.annotations)
        want = sorted((g, v, CERTAINTY_DEFINITELY) for g, v in designs[s.category].look)
        assert got == want, s.path


def test_cub_files_have_the_published_shapes(rendered):
    root, _, _ = rendered
    base = root / "cub"
    classes = (base / "classes.txt").read_text().splitlines()
    assert len(classes) == 13
    assert re.fullmatch(r"1 001\.[A-Z][a-z]+_capped_[A-Z][a-z]+_[A-Z][a-z]+", classes[0])
    assert (
        cub.species_name(classes[0].split()[1])
        == synth_birds.taxonomy(synth_birds.species_designs(13))[0][-1]
    )
    first = (base / "images.txt").read_text().splitlines()[0]
    assert re.fullmatch(r"1 001\.\S+/[A-Z][a-z]+(_[A-Z][a-z]+)+_0001_1\.jpg", first)
    attrs = (base / "attributes.txt").read_text().splitlines()
    assert attrs[0] == "1 has_bill_shape::curved_(up_or_down)"
    assert "has_size::small_(5_-_9_in)" in {a.split()[1] for a in attrs}
    labels = (base / "attributes" / "image_attribute_labels.txt").read_text().splitlines()
    assert len(labels) == 13 * 4 * len(attrs)
    fields = labels[0].split()
    assert len(fields) == 5 and fields[2] in "01" and fields[3] == "4"
    assert {
        line.split()[1] for line in (base / "train_test_split.txt").read_text().splitlines()
    } == {
        "0",
        "1",
    }


def test_inat_files_have_the_published_shapes(rendered):
    root, _, _ = rendered
    base = root / "inat2021"
    train = json.loads((base / "train.json").read_text())
    val = json.loads((base / "val.json").read_text())
    assert train["categories"] == val["categories"]
    cat = train["categories"][0]
    assert set(cat) >= {
        "id",
        "name",
        "common_name",
        "supercategory",
        "kingdom",
        "phylum",
        "class",
        "order",
        "family",
        "genus",
        "specific_epithet",
        "image_dir_name",
    }
    assert re.fullmatch(
        r"00000_Plantae_Tracheophyta_[A-Z][a-z]+_[A-Z][a-z]+ales_[A-Z][a-z]+aceae_[A-Z][a-z]+_[a-z]+",
        cat["image_dir_name"],
    )
    ids = [i["id"] for i in train["images"]] + [i["id"] for i in val["images"]]
    assert len(ids) == len(set(ids)) == 13 * 4
    img = train["images"][0]
    assert img["file_name"].startswith(f"train/{cat['image_dir_name']}/")
    assert (img["width"], img["height"]) == (48, 48)


def test_inat_folder_form_reads_the_same_taxonomy(rendered, tmp_path):
    """Without the json, iNat2021's folder-name form must give the same species and taxonomy."""
    root, _, datasets = rendered
    for src in ("train", "val"):
        (tmp_path / src).symlink_to(root / "inat2021" / src, target_is_directory=True)
    folder_form = inat2021.load(tmp_path)
    json_form = datasets["synth_flowers"]
    assert [c.taxonomy for c in folder_form.categories] == [
        c.taxonomy for c in json_form.categories
    ]
    assert sorted((s.path, s.category, s.split) for s in folder_form.samples) == sorted(
        (s.path, s.category, s.split) for s in json_form.samples
    )


@pytest.mark.parametrize("name", ["synth_birds", "synth_flowers"])
def test_images_open_as_rgb_of_the_configured_size(rendered, name):
    _, _, datasets = rendered
    ds = datasets[name]
    for s in ds.samples[:: len(ds.samples) // 5]:
        img = ds.open_image(s)
        assert (img.mode, img.size) == ("RGB", (48, 48))


def test_a_sidecar_that_does_not_match_the_layout_is_a_data_format_error(rendered, tmp_path):
    root, _, _ = rendered
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    sidecar = copy / "cub" / synth_birds.SIDECAR
    doc = json.loads(sidecar.read_text())
    name = next(iter(doc["categories"]))
    doc["categories"][name][3] = "wronggenus"
    sidecar.write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match="does not extend CUB's") as info:
        load_synthetic(copy)
    assert info.value.path == sidecar
    (copy / "inat2021" / synth_flowers.SIDECAR).unlink()
    sidecar.write_text(json.dumps(json.loads((root / "cub" / synth_birds.SIDECAR).read_text())))
    with pytest.raises(DataFormatError, match="missing"):
        load_synthetic(copy)


# --- the design: siblings differ in one or two visible attributes ---------------------------

_LEVEL_GROUPS = {
    module: [tuple(g for g, _ in spec.groups) for spec in module.DESIGN_LEVELS]
    for module in (synth_birds, synth_flowers)
}


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=180), module=st.sampled_from([synth_birds, synth_flowers])
)
def test_design_siblings_differ_only_in_their_levels_attributes(n, module):
    designs = module.species_designs(n)
    assert len(designs) == n
    assert len({d.look for d in designs}) == n  # every species looks different
    levels = _LEVEL_GROUPS[module]
    for a in designs:
        for b in designs[a.index + 1 :]:
            split = next(i for i in range(4) if a.path[i] != b.path[i])
            allowed = {g for groups in levels[split:] for g in groups}
            va, vb = a.attributes, b.attributes
            differing = {g for g in va if va[g] != vb[g]}
            assert differing <= allowed
            assert differing & set(levels[split])  # the level that splits them is visible
            if split == 3:
                assert 1 <= len(differing) <= 2
    genera = {d.path[2] for d in designs}
    assert len(genera) == -(-n // BRANCHING["species"])


def test_the_largest_allowed_design_builds_for_both_meta_categories():
    assert synth.MAX_SPECIES == 180
    for module in (synth_birds, synth_flowers):
        designs = module.species_designs(synth.MAX_SPECIES)
        assert len({d.look for d in designs}) == synth.MAX_SPECIES


@settings(max_examples=10, deadline=None)
@given(n=st.integers(min_value=2, max_value=180))
def test_design_names_are_unique_and_follow_the_layout_rules(n):
    birds = synth_birds.taxonomy(synth_birds.species_designs(n))
    assert len({t[-1] for t in birds}) == n
    for i, t in enumerate(birds):
        assert t[3] == t[-1].split()[-1]
        folder = synth_birds.class_folder(i, t[-1])
        assert cub.species_name(folder) == t[-1]
    flowers = synth_flowers.taxonomy(synth_flowers.species_designs(n))
    names = {f"{t['genus']} {t['specific_epithet']}" for t in flowers}
    assert len(names) == n
    genus_parent = {}
    for t in flowers:
        assert genus_parent.setdefault(t["genus"], (t["order"], t["family"])) == (
            t["order"],
            t["family"],
        )


# --- labels are visible in the pixels -------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "render"), [(synth_birds, render_bird), (synth_flowers, render_flower)]
)
def test_every_attribute_value_changes_the_pixels(module, render):
    base = module.species_designs(3)[0].attributes
    reference = np.asarray(render(base, np.random.default_rng(4), 64), dtype=int)
    for group, _, values in module.GROUPS:
        for value in values:
            if value == base[group]:
                continue
            img = np.asarray(
                render({**base, group: value}, np.random.default_rng(4), 64), dtype=int
            )
            changed = (np.abs(img - reference).sum(axis=2) > 30).sum()
            assert changed >= 15, f"{group}={value} is not visible ({changed} pixels changed)"


_PALETTE = np.array(list(COLORS.values()), dtype=float)


def _palette_histogram(img) -> np.ndarray:
    """The share of pixels nearest to each named colour: a plain colour histogram."""
    a = np.asarray(img, dtype=float).reshape(-1, 3)
    nearest = ((a[:, None, :] - _PALETTE[None]) ** 2).sum(axis=2).argmin(axis=1)
    return np.bincount(nearest, minlength=len(_PALETTE)) / len(a)


def test_sibling_species_are_separated_by_a_colour_histogram(tmp_path):
    """Siblings differ only in colour attributes: a nearest-centroid classifier on colour
    histograms (features scaled by the within-class spread) must tell them apart."""
    config = SynthConfig(species_per_meta=6, images_per_species=12, size=96, seed=11)
    root = tmp_path / "vis"
    generate(config, root)
    for ds in load_synthetic(root):
        features = {s.id: _palette_histogram(ds.open_image(s)) for s in ds.samples}
        correct = total = 0
        for genus in sorted({c.taxonomy[-2] for c in ds.categories}):
            cats = [c.index for c in ds.categories if c.taxonomy[-2] == genus]
            train = {
                c: [features[s.id] for s in ds.split("train") if s.category == c] for c in cats
            }
            centroids = np.array([np.mean(train[c], axis=0) for c in cats])
            spread = np.mean([np.std(train[c], axis=0) for c in cats], axis=0) + 1e-3
            for s in ds.split("test"):
                if s.category in cats:
                    dist = (((features[s.id] - centroids) / spread) ** 2).sum(axis=1)
                    correct += cats[int(np.argmin(dist))] == s.category
                    total += 1
        assert total == 6 * 6
        accuracy = correct / total
        assert accuracy >= 0.7, f"{ds.name}: {accuracy:.2f} (chance 0.33)"


# --- determinism ----------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_identical_bytes_and_another_seed_other_images(tmp_path):
    generate(TINY, tmp_path / "a")
    generate(TINY, tmp_path / "b")
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a == b
    other = SynthConfig(**{**TINY.__dict__, "seed": 2})
    generate(other, tmp_path / "c")
    c = _tree(tmp_path / "c")
    for rel in (
        "cub/classes.txt",
        "cub/images.txt",
        "cub/attributes.txt",
        "cub/synth_taxonomy.json",
    ):
        assert a[rel] == c[rel]
    jpgs_a = sorted(v for k, v in a.items() if k.startswith("cub/images/"))
    jpgs_c = sorted(v for k, v in c.items() if k.startswith("cub/images/"))
    assert len(jpgs_a) == 4 and all(x != y for x, y in zip(jpgs_a, jpgs_c, strict=True))
    flowers_a = [v for k, v in sorted(a.items()) if k.endswith(".jpg") and "inat2021" in k]
    flowers_c = [v for k, v in sorted(c.items()) if k.endswith(".jpg") and "inat2021" in k]
    assert len(flowers_a) == 4 and not set(flowers_a) & set(flowers_c)

    def labels(root):
        return [(s.category_name, s.split) for ds in load_synthetic(root) for s in ds.samples]

    assert labels(tmp_path / "a") == labels(tmp_path / "c")


# --- the cache ------------------------------------------------------------------------------


def test_second_call_reuses_the_cache_without_rendering(tmp_path, monkeypatch):
    root = ensure_synthetic(TINY, tmp_path)
    assert root.parent == tmp_path and synth.is_complete(root, TINY)
    stamp = (root / synth.MANIFEST).stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(synth, "generate", fail)
    assert ensure_synthetic(TINY, tmp_path) == root
    assert (root / synth.MANIFEST).stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == [root.name]  # no lock, no temp left


def test_cache_dir_comes_from_the_environment_then_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(synth.ENV_DIR, str(tmp_path / "env"))
    root = ensure_synthetic(TINY)
    assert root.parent == tmp_path / "env"
    monkeypatch.delenv(synth.ENV_DIR)
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda app: str(tmp_path / "user" / app))
    assert synth.cache_parent() == tmp_path / "user" / "pytest-fgbmk" / "synth"


def test_an_unusable_cache_dir_is_a_config_error_naming_the_variable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=synth.ENV_DIR):
        ensure_synthetic(TINY, blocker / "cache")


def test_a_new_version_or_other_arguments_render_afresh(tmp_path, monkeypatch):
    first = ensure_synthetic(TINY, tmp_path)
    other_args = ensure_synthetic(SynthConfig(**{**TINY.__dict__, "size": 40}), tmp_path)
    assert other_args != first and synth.is_complete(
        other_args, SynthConfig(**{**TINY.__dict__, "size": 40})
    )
    monkeypatch.setattr(synth, "SYNTH_VERSION", "next")
    assert not synth.is_complete(first, TINY)
    renewed = ensure_synthetic(TINY, tmp_path)
    assert renewed != first
    assert json.loads((renewed / synth.MANIFEST).read_text())["synth_version"] == "next"


def test_an_incomplete_entry_is_replaced(tmp_path):
    final = tmp_path / TINY.key()
    (final / "cub").mkdir(parents=True)
    (final / "cub" / "images.txt").write_text("1 half/written.jpg\n")
    root = ensure_synthetic(TINY, tmp_path)
    assert root == final and synth.is_complete(root, TINY)
    assert len(load_synthetic(root)[0].samples) == 4


def test_a_failed_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    def killed(*args, **kwargs):
        raise RuntimeError("killed half way")

    monkeypatch.setattr(synth_flowers, "write_inat", killed)
    with pytest.raises(RuntimeError, match="half way"):
        ensure_synthetic(TINY, tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert synth.is_complete(ensure_synthetic(TINY, tmp_path), TINY)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_generation_is_taken_over(tmp_path):
    """A SIGKILLed renderer leaves its lock and temp folder: both are recovered."""
    pid = _dead_pid()
    key = TINY.key()
    (tmp_path / f"{key}.lock").write_text(f"{synth._host_tag()} {pid}\n")
    abandoned = tmp_path / f".tmp-{key}-{synth._host_tag()}-{pid}-abcdef"
    (abandoned / "cub").mkdir(parents=True)
    root = ensure_synthetic(TINY, tmp_path)
    assert synth.is_complete(root, TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == [key]


def test_concurrent_processes_share_one_rendering(tmp_path):
    code = (
        "import sys; from pathlib import Path; "
        "from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic; "
        "print(ensure_synthetic(SynthConfig(species_per_meta=3, images_per_species=3, size=32), "
        "Path(sys.argv[1])))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), *sys.path])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in outs]
    roots = {o.strip() for o, _ in outs}
    assert len(roots) == 1
    root = Path(roots.pop())
    assert sorted(p.name for p in tmp_path.iterdir()) == [root.name]
    birds, flowers = load_synthetic(root)
    assert len(birds.samples) == len(flowers.samples) == 9


def test_default_datasets_renders_and_loads(tmp_path, monkeypatch):
    monkeypatch.setenv(synth.ENV_DIR, str(tmp_path))
    birds, flowers = synth.default_datasets(TINY)
    assert (birds.name, flowers.name) == synth.NAMES
    assert birds.root.parent.parent == tmp_path


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"species_per_meta": 1},
        {"species_per_meta": 181},
        {"images_per_species": 1},
        {"size": 16},
        {"train_fraction": 0.0},
        {"train_fraction": 1.0},
        {"seed": -1},
    ],
)
def test_bad_config_is_a_config_error(kwargs):
    with pytest.raises(ConfigError, match="SynthConfig"):
        SynthConfig(**kwargs)


def test_train_count_keeps_both_splits():
    assert SynthConfig().n_train == 15
    assert SynthConfig(images_per_species=3, train_fraction=0.01).n_train == 1
    assert SynthConfig(images_per_species=3, train_fraction=0.99).n_train == 2
    assert SynthConfig().key() != SynthConfig(seed=1).key()
    assert SynthConfig().key() == SynthConfig().key()
    # the same in every process (a cache folder shared by runs and xdist workers): two fresh
    # interpreters with different hash seeds name the same folder as this one
    code = "from pytest_fgbmk.data.synth import SynthConfig\nprint(SynthConfig().key())"
    assert in_fresh_interpreters(code) == [SynthConfig().key()] * 2
