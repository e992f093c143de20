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
