"""Discovery: which datasets are under a data root, and what was looked for where absent."""

from __future__ import annotations

import importlib

import pytest
from replicas_modern import write_inat_json, write_products10k, write_skincon

from pytest_fgbmk.data import discovery
from pytest_fgbmk.errors import ConfigError

CLASSIC = ("cub", "stanford_dogs", "stanford_cars", "aircraft", "flowers102", "food101", "cifar100")


def test_two_present_others_absent(tmp_path):
    write_inat_json(tmp_path / "inat2021", images=False)
    write_skincon(tmp_path / "skincon")
    found = discovery.discover(tmp_path)
    assert found.found == {"inat2021": tmp_path / "inat2021", "skincon": tmp_path / "skincon"}
    assert "inat2021" not in found.missing
    m = found.missing
    assert m["vegfru"].startswith(f"looked for vegfru_list/vegfru_train.txt in {tmp_path}")
    assert "vegfru/" in m["vegfru"]
    assert f"train.csv (name,class,group) in {tmp_path}" in m["products10k"]
    assert f"annotations.json in {tmp_path}" in m["wine"]
    assert "Anno/list_category_img.txt" in m["deepfashion"]
    assert set(found.found) | set(m) >= {"vegfru", "products10k", "deepfashion", "wine"}
    text = found.describe()
    assert f"inat2021: {tmp_path / 'inat2021'}" in text and "wine: not found" in text


def test_dataset_at_root_itself_and_load_dataset(tmp_path):
    write_products10k(tmp_path)
    assert discovery.discover(tmp_path, ("products10k",)).found == {"products10k": tmp_path}
    ds = discovery.load_dataset("products10k", tmp_path)
    assert ds.name == "products10k" and len(ds.samples) == 5
    write_inat_json(tmp_path / "data" / "iNat2021", images=False)
    assert (
        discovery.load_dataset("inat2021", tmp_path / "data").root == tmp_path / "data" / "iNat2021"
    )


def test_unknown_name_lists_known(tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'; known datasets: .*inat2021"):
        discovery.load_dataset("imagenet", tmp_path)
    with pytest.raises(ConfigError, match="not a folder"):
        discovery.discover(tmp_path / "nope")


@pytest.mark.parametrize("module", CLASSIC)
def test_classic_loaders_are_registered(module):
    # a missing loader module fails here (ModuleNotFoundError), it is not skipped
    mod = importlib.import_module(f"pytest_fgbmk.data.{module}")
    assert discovery.LOADERS[mod.NAME] is mod


def test_every_loader_follows_the_contract(tmp_path):
    for name, mod in discovery.LOADERS.items():
        assert name == mod.NAME and isinstance(mod.META, str) and mod.FOLDERS
        assert isinstance(mod.probe(tmp_path), str), name


def test_a_dataset_folder_with_a_file_missing_is_incomplete_not_absent(tmp_path):
    """Its folder is there but a required file is not: named as incomplete, never as
    simply "not found" (a run must not drop it silently)."""
    write_inat_json(tmp_path / "inat2021", images=False)
    write_skincon(tmp_path / "skincon")
    (tmp_path / "skincon" / "annotations_fitzpatrick17k.csv").unlink()
    found = discovery.discover(tmp_path)
    assert list(found.found) == ["inat2021"]
    folder, why = found.incomplete["skincon"]
    assert folder == tmp_path / "skincon" and "annotations_fitzpatrick17k.csv" in why
    assert "vegfru" not in found.incomplete  # no folder of its own: absent, not incomplete
    assert f"skincon: INCOMPLETE at {tmp_path / 'skincon'}" in found.describe()


def test_a_run_over_a_root_with_an_incomplete_dataset_fails_naming_the_file(tmp_path):
    from pytest_fgbmk.run.data import load_data
    from pytest_fgbmk.run.options import RunOptions

    write_inat_json(tmp_path / "inat2021", images=False)
    write_skincon(tmp_path / "skincon")
    (tmp_path / "skincon" / "annotations_fitzpatrick17k.csv").unlink()
    with pytest.raises(ConfigError) as e:
        load_data(RunOptions(model="oracle", data=tmp_path))
    text = str(e.value)
    assert "1 dataset folder(s) are there but incomplete" in text
    assert f"skincon: {tmp_path / 'skincon'}" in text and "annotations_fitzpatrick17k.csv" in text
    assert "--fgbmk-datasets (complete here: inat2021)" in text
    # leaving it out is the way on
    state = load_data(RunOptions(model="oracle", data=tmp_path, datasets=("inat2021",)))
    assert list(state.datasets) == ["inat2021"]


def _release_layout(folder, classes, n=2):
    folder.mkdir(parents=True)
    (folder / "classes.txt").write_text("".join(f"{c}\n" for c in classes))
    for split in ("train", "test"):
        rows = [f"images/{i}/{split}_{j}.jpg,{i}" for i in range(len(classes)) for j in range(n)]
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.mark.parametrize("given", ["machine-oriented", "."])
def test_release_split_folders_one_level_down(tmp_path, given):
    """The release's machine-oriented/ tree: each dataset folder below it in the split
    layout is found under its name (found 0 before), read by the release loader."""
    tree = tmp_path / "machine-oriented"
    _release_layout(tree / "cub", ("black footed albatross", "laysan albatross"))
    _release_layout(tree / "MTARSI", ("b-52", "c-130", "e-3"))
    root = tmp_path / given
    found = discovery.discover(root)
    assert found.found == {"cub": tree / "cub", "mtarsi": tree / "MTARSI"}
    assert found.layouts == {"cub": "fgbmk_release", "mtarsi": "fgbmk_release"}
    assert "cub" not in found.incomplete and "fgbmk_release" not in found.missing
    assert f"cub: {tree / 'cub'} (release split layout)" in found.describe()
    ds = found.load("mtarsi")
    assert (ds.name, len(ds.categories), len(ds.split("test"))) == ("mtarsi", 3, 6)
    assert discovery.load_dataset("mtarsi", root).categories == ds.categories
    assert discovery.load_dataset("cub", root).name == "cub"
    assert discovery.discover(root, ("mtarsi",)).found == {"mtarsi": tree / "MTARSI"}

    from pytest_fgbmk.run.data import load_data
    from pytest_fgbmk.run.options import RunOptions

    state = load_data(RunOptions(model="oracle", data=root))
    assert sorted(state.datasets) == ["cub", "mtarsi"]
    state = load_data(RunOptions(model="oracle", data=root, datasets=("mtarsi",)))
    assert list(state.datasets) == ["mtarsi"]


def test_fgbmk_datasets_on_the_release_machine_oriented_folder(capsys):
    from pathlib import Path

    from pytest_fgbmk import cli

    here = Path(__file__).resolve()
    sample = next(
        (p / "shared" / "fgbmk-official-sample" for p in here.parents
         if (p / "shared" / "fgbmk-official-sample").is_dir()),
        None,
    )  # fmt: skip
    if sample is None:
        pytest.skip("the FG-BMK release sample is not in shared/ beside the checkout")
    tree = sample / "machine-oriented"
    assert cli.main(["datasets", str(tree)]) == 0
    out = capsys.readouterr().out
    assert f"  cub: {tree / 'cub'} (release split layout)" in out
    assert f"  skincon: {tree / 'skincon'} (release split layout)" in out
    assert "\n2 found," in out
    assert discovery.discover(tree).load("cub").categories[0].name == "black footed albatross"
