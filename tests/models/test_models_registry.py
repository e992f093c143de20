"""Finding a model from a spec, and model args from the command line and a file."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pytest_fgbmk.errors import ConfigError, ModelError
from pytest_fgbmk.models import registry
from pytest_fgbmk.models.args import parse_model_args, parse_pair
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings
from pytest_fgbmk.models.openai_compat import OpenAICompatModel
from pytest_fgbmk.models.options import ModelOptions
from pytest_fgbmk.models.references import OracleModel
from pytest_fgbmk.models.registry import ENTRY_POINT_GROUP, available, load_model

EXAMPLE_PLUGIN = Path(__file__).parent / "example_plugin"


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, **targets: str) -> None:
    eps = [importlib.metadata.EntryPoint(n, v, ENTRY_POINT_GROUP) for n, v in targets.items()]

    def entry_points(**params: str) -> list[importlib.metadata.EntryPoint]:
        assert params == {"group": ENTRY_POINT_GROUP}
        return eps

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


@pytest.fixture
def example_on_path(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    yield
    sys.modules.pop("my_lvlm_plugin", None)


# --- the registry -------------------------------------------------------------------------


def test_a_wrong_spec_gets_one_line_listing_what_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, my_lvlm="my_lvlm_plugin:load", other="x.y:z")
    with pytest.raises(ConfigError) as info:
        load_model("gpt-5-vision")
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith("unknown model spec 'gpt-5-vision'; built-ins: ")
    for name in ("chance", "oracle", "efficientnet-lite0", "tiny-llava"):
        assert name in line
    for prefix in ("hf:PATH_OR_REPO", "timm:NAME", "probe:ENCODER_SPEC", "openai:MODEL"):
        assert prefix in line
    assert "registered (fgbmk.models): my_lvlm, other" in line
    assert line.endswith("or package.module:factory")


def test_a_near_miss_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch)
    with pytest.raises(
        ConfigError, match=r"did you mean 'oracle'\?.*registered \(fgbmk.models\): none"
    ):
        load_model("oracel")


def test_a_prefix_without_target_says_what_to_write() -> None:
    with pytest.raises(ConfigError, match=r"'hf:' needs a target after 'hf:', e.g. hf:"):
        load_model("hf:")
    with pytest.raises(ConfigError, match="e.g. openai:gpt-4o"):
        load_model("openai:  ")


def test_builtins_and_prefixes_dispatch_with_validated_options() -> None:
    assert isinstance(load_model(" oracle "), OracleModel)
    adapter = load_model("openai:gpt-4o", base_url="http://127.0.0.1:9/v1", max_new_tokens="5")
    assert isinstance(adapter, OpenAICompatModel)
    assert adapter.model == "gpt-4o"
    assert adapter.options.max_new_tokens == 5
    with pytest.raises(ConfigError, match="dtype='fp8' is not valid"):
        load_model("oracle", dtype="fp8")


def test_a_missing_family_module_says_the_family_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    family = registry._Family("pytest_fgbmk.models.no_such_family", "load", "gone", False)
    monkeypatch.setitem(registry.BUILTINS, "gone-model", family)
    with pytest.raises(ModelError, match="'gone-model' is unavailable.*no_such_family is missing"):
        load_model("gone-model")


def test_a_family_needing_an_absent_package_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "fgbmk_family_needs_pkg.py").write_text("import fgbmk_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    family = registry._Family("fgbmk_family_needs_pkg", "load", "x", True, "x:y")
    monkeypatch.setitem(registry.PREFIXES, "needy:", family)
    with pytest.raises(ModelError, match="needs the package 'fgbmk_absent_dependency'"):
        load_model("needy:thing")


def test_entry_point_name_loads_the_example_package(
    monkeypatch: pytest.MonkeyPatch, example_on_path: None
) -> None:
    fake_entry_points(monkeypatch, my_lvlm="my_lvlm_plugin:load")
    model = load_model("my_lvlm", device="cpu", max_new_tokens="9")
    assert type(model).__name__ == "MyLVLM"
    assert model.options == ModelOptions(device="cpu", max_new_tokens=9)
    request = AnswerRequest(Image.new("RGB", (4, 4)), "Is it a bird?")
    assert model.answer([request, request], GenerationSettings()) == ["yes", "yes"]
    assert available()["my_lvlm"] == "registered model (my_lvlm_plugin:load)"


def test_entry_point_found_through_real_metadata_discovery(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, example_on_path: None
) -> None:
    """An installed distribution's entry_points.txt on sys.path, read by importlib.metadata."""
    dist_info = tmp_path / "my_lvlm_plugin-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: my-lvlm-plugin\nVersion: 0.1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nmy_lvlm = my_lvlm_plugin:load\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert type(load_model("my_lvlm")).__name__ == "MyLVLM"
    assert available()["my_lvlm"] == "registered model (my_lvlm_plugin:load from my-lvlm-plugin)"


def test_example_package_installed_by_pip_is_found_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """pip builds and installs the example package (offline, about a second) into a target."""
    if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
        pytest.skip("pip and setuptools are needed to build the example package")
    source = tmp_path / "src"
    shutil.copytree(EXAMPLE_PLUGIN, source)  # the build writes into its source folder
    target = tmp_path / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    monkeypatch.syspath_prepend(str(target))
    try:
        model = load_model("my_lvlm")
        assert type(model).__name__ == "MyLVLM"
        assert model.fingerprint == "my_lvlm-v1"
        assert sys.modules["my_lvlm_plugin"].__file__.startswith(str(target))
    finally:
        sys.modules.pop("my_lvlm_plugin", None)


def test_example_package_declares_the_entry_point() -> None:
    import tomllib

    project = tomllib.loads((EXAMPLE_PLUGIN / "pyproject.toml").read_text())["project"]
    assert project["entry-points"][ENTRY_POINT_GROUP] == {"my_lvlm": "my_lvlm_plugin:load"}


def test_a_broken_entry_point_names_its_target(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, broken="fgbmk_no_such_module_xyz:load")
    with pytest.raises(
        ModelError,
        match="'broken' is registered under fgbmk.models as "
        "'fgbmk_no_such_module_xyz:load', but loading it failed",
    ):
        load_model("broken")


def test_builtins_win_over_a_registered_name_of_the_same_spelling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_entry_points(monkeypatch, oracle="fgbmk_no_such_module_xyz:load")
    assert isinstance(load_model("oracle"), OracleModel)


FACTORY_MODULE = """
from pytest_fgbmk.models.references import OracleModel

seen = []

def make(options):
    seen.append(options)
    return OracleModel()

class Holder:
    @staticmethod
    def create(options):
        return OracleModel()

def not_an_adapter(options):
    return "hello"

def explodes(options):
    raise ValueError("weights file is corrupt")

VALUE = 3
"""


@pytest.fixture
def factory_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    (tmp_path / "fgbmk_test_factories.py").write_text(textwrap.dedent(FACTORY_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("fgbmk_test_factories", None)


def test_module_factory_spec_gets_the_options(factory_module: None) -> None:
    import fgbmk_test_factories

    assert isinstance(load_model("fgbmk_test_factories:make", batch_size="4"), OracleModel)
    assert fgbmk_test_factories.seen == [ModelOptions(batch_size=4)]
    assert isinstance(load_model("fgbmk_test_factories:Holder.create"), OracleModel)


def test_module_factory_errors_are_clear(factory_module: None) -> None:
    with pytest.raises(ConfigError, match="cannot import module 'fgbmk_nope_mod'"):
        load_model("fgbmk_nope_mod:make")
    with pytest.raises(ConfigError, match="has no attribute 'missing'"):
        load_model("fgbmk_test_factories:missing")
    with pytest.raises(ConfigError, match="VALUE is not callable"):
        load_model("fgbmk_test_factories:VALUE")
    with pytest.raises(
        ModelError, match="returned str, not a pytest_fgbmk.models.base.ModelAdapter"
    ):
        load_model("fgbmk_test_factories:not_an_adapter")
    with pytest.raises(ModelError, match="raised ValueError: weights file is corrupt") as info:
        load_model("fgbmk_test_factories:explodes")
    assert isinstance(info.value.__cause__, ValueError)


def test_available_lists_builtins_prefixes_and_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, my_lvlm="my_lvlm_plugin:load")
    names = available()
    assert list(names)[:9] == [
        "chance",
        "oracle",
        "constant",
        "efficientnet-lite0",
        "tiny-llava",
        "hf:PATH_OR_REPO",
        "timm:NAME",
        "probe:ENCODER_SPEC",
        "openai:MODEL",
    ]
    assert "my_lvlm" in names and "package.module:factory" in names
    assert all(isinstance(v, str) and v and "\n" not in v for v in names.values())


# --- model args -------------------------------------------------------------------------


def test_pairs_keep_strings_and_normalise_keys() -> None:
    args = parse_model_args(
        ["dtype=bf16", "max-new-tokens=64", "system_prompt=Answer: yes=no", "note=", "dtype=fp16"]
    )
    assert args == {
        "dtype": "fp16",
        "max_new_tokens": "64",
        "system_prompt": "Answer: yes=no",
        "note": "",
    }
    options = ModelOptions.from_mapping(args)
    assert options.max_new_tokens == 64
    assert options.dtype == "fp16"
    assert options.extra == {"note": ""}


@pytest.mark.parametrize("pair", ["dtype", "=bf16", "bad key=1", "1dtype=x", ""])
def test_a_malformed_pair_is_named(pair: str) -> None:
    with pytest.raises(
        ConfigError, match=r"--fgbmk-model-arg .* is not a key=value pair; write key=value"
    ):
        parse_model_args([pair])


@settings(max_examples=50, deadline=None)
@given(
    key=st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,10}", fullmatch=True),
    value=st.text(max_size=20).filter(lambda s: "\n" not in s and "\r" not in s),
)
def test_any_pair_round_trips(key: str, value: str) -> None:
    assert parse_pair(f"{key}={value}") == (key.replace("-", "_"), value.strip())


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_toml_file_is_read_and_the_command_line_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path / "model.toml",
        """
        dtype = "bf16"
        batch-size = 16
        max_new_tokens = 32
        trust_remote_code = true

        [extra]
        min_pixels = 3136
        """,
    )
    args = parse_model_args(["batch_size=2", "max-new-tokens=8"], path)
    assert args == {
        "dtype": "bf16",
        "batch_size": "2",
        "max_new_tokens": "8",
        "trust_remote_code": True,
        "extra": {"min_pixels": 3136},
    }
    options = ModelOptions.from_mapping(args)
    assert (options.batch_size, options.max_new_tokens, options.trust_remote_code) == (2, 8, True)
    assert options.extra == {"min_pixels": 3136}


def test_yaml_file_is_read_and_the_command_line_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path / "model.yaml",
        """
        device: cuda:1
        image_size: 448
        system_prompt: "Answer with one word."
        """,
    )
    assert parse_model_args(["device=cpu"], str(path)) == {
        "device": "cpu",
        "image_size": 448,
        "system_prompt": "Answer with one word.",
    }
    assert parse_model_args([], write(tmp_path / "empty.yml", "")) == {}


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", 'dtype = "bf16"\nbatch_size = 4\ndevice = cuda\n')
    with pytest.raises(ConfigError, match=rf"^{path}:3: TOML syntax error: .*write key = value"):
        parse_model_args([], path)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "dtype: bf16\ndevice: [cuda\nbatch_size: 2\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: YAML syntax error: .*key: value"):
        parse_model_args([], path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("list.yaml", "- dtype\n- bf16\n", "top level is a list"),
        ("nested.toml", "[model]\ndtype = 'bf16'\n", "'model' is a nested table; only 'extra'"),
        ("twice.yaml", "batch-size: 2\nbatch_size: 4\n", "'batch_size' is given twice"),
        ("numkey.yaml", "1: 2\n", "key 1 is not a valid option name"),
        ("args.json", "{}", "must end in .toml, .yaml or .yml"),
    ],
)
def test_a_bad_file_is_named_with_what_to_write(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(ConfigError, match=str(path).replace("\\", "\\\\") + ": .*" + message):
        parse_model_args([], path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.toml: model-args file not found"):
        parse_model_args(["dtype=bf16"], tmp_path / "nope.toml")
