"""Every model option is checked before any work starts, with one line naming the option
and the fix: devices this machine lacks, unknown model args, out-of-range sizes; and a
model's fingerprint follows what its weights are, not how their path was written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.models import hf, tiny
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings
from pytest_fgbmk.models.encoders import file_digest
from pytest_fgbmk.models.options import ModelOptions
from pytest_fgbmk.models.registry import load_model

timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")

COMMON = "device, dtype, batch_size, max_new_tokens, image_size, system_prompt, trust_remote_code"
FIX = (
    "use --fgbmk-device cpu (or --fgbmk-model-arg device=cpu), or auto for CUDA when "
    "present, else the CPU"
)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """test_vit weights, a tiny CLIP vision tower and a tiny LLaVA, saved locally."""
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("validation")
    torch.manual_seed(1)
    vit = timm.create_model("test_vit", num_classes=0)
    weights = root / "test_vit.safetensors"
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, weights)
    clip = root / "clip"
    config = transformers.CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
    )
    transformers.CLIPVisionModel(config).save_pretrained(clip)
    llava = root / "llava"
    tiny.build_tiny("llava", llava)
    return {"weights": weights, "clip": clip, "llava": llava}


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine, whatever it has, seen as one with a CPU only."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def _specs(files: dict[str, Path]) -> dict[str, tuple[str, dict[str, str]]]:
    return {
        "timm": ("timm:test_vit", {"random": "true"}),
        "timm-weights": (f"timm:test_vit@{files['weights']}", {}),
        "hf-encoder": (f"hf:{files['clip']}", {}),
        "probe": ("probe:timm:test_vit", {"random": "true"}),
        "hf-vlm": (f"hf:{files['llava']}", {}),
        "tiny-llava": ("tiny-llava", {}),
    }


@pytest.mark.parametrize("family", ["timm", "timm-weights", "hf-encoder", "probe", "hf-vlm"])
@pytest.mark.parametrize(
    ("device", "has"),
    [
        ("cuda", "no CUDA device"),
        ("cuda:3", "no CUDA device"),
        ("mps", "no MPS (Apple GPU) device"),
    ],
)
def test_a_device_the_machine_lacks_is_one_line_before_any_weights_are_read(
    files, no_gpu, monkeypatch, family, device, has
) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("weights were read before the device was checked")

    monkeypatch.setattr(timm, "create_model", forbidden)
    monkeypatch.setattr(transformers.PreTrainedModel, "from_pretrained", forbidden)
    spec, args = _specs(files)[family]
    with pytest.raises(ConfigError) as info:
        load_model(spec, device=device, **args)
    assert str(info.value) == f"device={device}: this machine has {has} (devices here: cpu); {FIX}"


def test_a_cuda_index_past_the_last_gpu_lists_the_gpus(files, one_gpu) -> None:
    with pytest.raises(ConfigError) as info:
        load_model("timm:test_vit", device="cuda:3", random="true")
    assert str(info.value) == (
        f"device=cuda:3: this machine has 1 CUDA device(s) (devices here: cpu, cuda:0); {FIX}"
    )


@pytest.mark.parametrize(
    ("family", "arg", "message"),
    [
        (
            "hf-vlm",
            {"typo_arg": "1"},
            "model arg typo_arg='1' is not known to hf: (vision-language model); hf: "
            "(vision-language model) accepts device_map, do_image_splitting, fixed_new_tokens, "
            f"max_patches, max_pixels, min_pixels, prompt_format, and the common {COMMON}",
        ),
        (
            "hf-vlm",
            {"max_pixel": "4096"},
            "model arg max_pixel='4096' is not known to hf: (vision-language model) (did you "
            "mean max_pixels?); hf: (vision-language model) accepts device_map, "
            "do_image_splitting, fixed_new_tokens, max_patches, max_pixels, min_pixels, "
            f"prompt_format, and the common {COMMON}",
        ),
        (
            "hf-encoder",
            {"block": "2"},
            "model arg block='2' is not known to hf: (vision encoder) (did you mean blocks?); "
            f"hf: (vision encoder) accepts blocks, and the common {COMMON}",
        ),
        (
            "timm",
            {"wieghts": "x.pth"},
            "model arg wieghts='x.pth' is not known to timm: (did you mean weights?); timm: "
            f"accepts blocks, random, seed, weights, and the common {COMMON}",
        ),
        (
            "probe",
            {"dtyp": "fp32"},
            "model arg dtyp='fp32' is not known to timm: (did you mean dtype?); timm: accepts "
            f"blocks, random, seed, weights, and the common {COMMON}; probe: also accepts "
            "cache_dir, probe_l2, probe_max_iter, probe_min_certainty",
        ),
        (
            "tiny-llava",
            {"typo_arg": "1"},
            "model arg typo_arg='1' is not known to tiny-llava; tiny-llava accepts device_map, "
            "do_image_splitting, fixed_new_tokens, max_patches, max_pixels, min_pixels, "
            f"prompt_format, and the common {COMMON}",
        ),
    ],
)
def test_an_unknown_model_arg_is_refused_naming_those_accepted(files, family, arg, message) -> None:
    spec, args = _specs(files)[family]
    with pytest.raises(ConfigError) as info:
        load_model(spec, device="cpu", **args, **arg)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-3", "image_size=-3 is out of range"),
        ("0", "image_size=0 is out of range"),
        ("15", "image_size=15 is out of range"),
        ("8193", "image_size=8193 is out of range"),
        ("3.5", "image_size must be a whole number of pixels from 16 to 8192, got '3.5'"),
        (3.5, "image_size must be a whole number of pixels from 16 to 8192, got 3.5"),
        (True, "image_size must be a whole number of pixels from 16 to 8192, got True"),
        ("big", "image_size must be a whole number of pixels from 16 to 8192, got 'big'"),
    ],
)
def test_an_image_size_out_of_range_is_refused_naming_the_range(raw, message) -> None:
    with pytest.raises(ConfigError) as info:
        ModelOptions.from_mapping({"image_size": raw})
    text = str(info.value)
    assert text.startswith(f"model args: {message}")
    if "out of range" in message:
        assert text.endswith(
            "give a side in pixels from 16 to 8192 (or leave it out for the model's own size)"
        )


def test_image_sizes_in_range_and_whole_floats_are_accepted() -> None:
    assert ModelOptions.from_mapping({"image_size": "16"}).image_size == 16
    assert ModelOptions.from_mapping({"image_size": 448.0}).image_size == 448
    assert ModelOptions.from_mapping({"image_size": 8192}).image_size == 8192


def test_timm_fingerprint_is_the_weights_not_how_their_path_was_given(
    files, tmp_path, monkeypatch
) -> None:
    weights = files["weights"]
    at = load_model(f"timm:test_vit@{weights}", device="cpu").fingerprint
    assert load_model("timm:test_vit", device="cpu", weights=str(weights)).fingerprint == at
    monkeypatch.chdir(weights.parent)
    assert load_model(f"timm:test_vit@{weights.name}", device="cpu").fingerprint == at
    link = tmp_path / "renamed-link.safetensors"
    link.symlink_to(weights)
    assert load_model("timm:test_vit", device="cpu", weights=str(link)).fingerprint == at
    copy = tmp_path / "copy" / "other-name.safetensors"
    copy.parent.mkdir()
    shutil.copyfile(weights, copy)
    assert load_model(f"timm:test_vit@{copy}", device="cpu").fingerprint == at
    # what the weights are does count: other weights, another fingerprint
    from safetensors.torch import load_file, save_file

    state = load_file(copy)
    first = next(iter(state))
    state[first] = state[first] + 1.0
    save_file(state, copy)
    assert load_model(f"timm:test_vit@{copy}", device="cpu").fingerprint != at
    # and so do the options that change the features
    assert load_model(f"timm:test_vit@{weights}", device="cpu", blocks="2").fingerprint != at


def test_probe_fingerprint_does_not_depend_on_the_weights_path(files, tmp_path) -> None:
    weights = files["weights"]
    link = tmp_path / "elsewhere.safetensors"
    link.symlink_to(weights)
    a = load_model(f"probe:timm:test_vit@{weights}", device="cpu", cache_dir=str(tmp_path / "a"))
    b = load_model("probe:timm:test_vit", device="cpu", weights=str(link))
    assert a.fingerprint == b.fingerprint
    assert a.features_fingerprint == b.features_fingerprint


def test_efficientnet_fingerprint_survives_a_reinstall_elsewhere(tmp_path, monkeypatch) -> None:
    """The packaged weights' fingerprint was their file's name and mtime: a reinstall (a CI
    job's fresh environment) changed every probe:efficientnet-lite0 fingerprint."""
    efficientnet = pytest.importorskip("pytest_fgbmk.models.efficientnet")
    try:
        original = efficientnet.weights_file()
    except Exception as exc:  # noqa: BLE001 - the demo extra is optional
        pytest.skip(f"efficientnet-lite0 weights not installed: {exc}")
    a = load_model("probe:efficientnet-lite0", device="cpu").fingerprint
    moved = tmp_path / "site-packages" / "models" / original.name
    moved.parent.mkdir(parents=True)
    shutil.copyfile(original, moved)  # a new mtime, a new folder
    monkeypatch.setattr(efficientnet, "weights_file", lambda: moved)
    assert load_model("probe:efficientnet-lite0", device="cpu").fingerprint == a


def test_file_digest_is_the_content_read_once_per_process(tmp_path, monkeypatch) -> None:
    import hashlib

    path = tmp_path / "w.bin"
    data = bytes(range(256)) * 40_000  # 10 MB: several read chunks
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()
    opened = []
    real_open = Path.open

    def counting(self, *args, **kwargs):
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()
    assert opened == []  # memoised by (path, size, mtime)
    path.write_bytes(data[::-1])
    opened.clear()
    assert file_digest(path) == hashlib.sha256(data[::-1]).hexdigest()
    assert opened == [path]  # changed: read again


def test_device_map_needs_accelerate(files, monkeypatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec",
        lambda name, *a: None if name == "accelerate" else real_find_spec(name, *a),
    )
    with pytest.raises(ConfigError) as info:
        load_model(f"hf:{files['llava']}", device_map="auto")
    assert str(info.value) == (
        "model arg device_map=auto needs the accelerate package, which places the model's "
        "layers over the GPUs: pip install 'pytest-fgbmk[multi-gpu]' (or accelerate)"
    )
    with pytest.raises(ConfigError, match=r"device_map='everywhere' is not valid; use one of"):
        load_model(f"hf:{files['llava']}", device_map="everywhere")


def test_device_map_is_passed_to_from_pretrained(files, monkeypatch) -> None:
    """One process, layers placed by accelerate: checked here as far as a CPU allows (the
    argument reaches transformers; the inputs go to the device of the model's first layer)."""
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec",
        lambda name, *a: True if name == "accelerate" else real_find_spec(name, *a),
    )
    seen = []
    real = transformers.AutoModelForImageTextToText.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        seen.append(kwargs.pop("device_map", None))
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(
        transformers.AutoModelForImageTextToText, "from_pretrained", classmethod(spy)
    )
    model = hf.load_hf(
        str(files["llava"]),
        ModelOptions(dtype="fp32", extra={"device_map": "auto"}),
    )
    assert seen == ["auto"]
    assert model.device == "cpu"
    from PIL import Image

    out = model.answer(
        [AnswerRequest(Image.new("RGB", (40, 30), (200, 10, 10)), "Is it red?")],
        GenerationSettings(max_new_tokens=3),
    )
    assert len(out) == 1 and isinstance(out[0], str)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("random=true", "device=cuda"),
            f"device=cuda: this machine has no CUDA device (devices here: cpu); {FIX}",
        ),
        (
            ("random=true", "typo_arg=1"),
            "model arg typo_arg='1' is not known to timm:; timm: accepts blocks, random, seed, "
            f"weights, and the common {COMMON}",
        ),
        (
            ("random=true", "image_size=-3"),
            "model args: image_size=-3 is out of range; give a side in pixels from 16 to 8192 "
            "(or leave it out for the model's own size)",
        ),
    ],
)
def test_bad_model_options_reach_the_user_as_one_line_through_pytest(
    run, no_gpu, args, message
) -> None:
    pairs = [x for a in args for x in ("--fgbmk-model-arg", a)]
    result = run("-m", "fgbmk_machine", "--fgbmk-no-cache", "--fgbmk-model=timm:test_vit", *pairs)
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and "Traceback" not in text
    line = f"ERROR: --fgbmk-model=timm:test_vit: {message}"
    assert text.splitlines().count(line) == 1, text
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_under_xdist_the_controller_refuses_a_missing_device_once(run) -> None:
    """With -n N the workers load the model; the controller checks the device first, so the
    user reads one line instead of every test failing with it (cuda:99: no machine has it)."""
    result = run(
        "-m",
        "fgbmk_machine",
        "--fgbmk-no-cache",
        "-n",
        "2",
        "--fgbmk-model=timm:test_vit",
        "--fgbmk-model-arg",
        "random=true",
        "--fgbmk-model-arg",
        "device=cuda:99",
        subprocess=True,
    )
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and "Traceback" not in text
    lines = [x for x in text.splitlines() if "device=cuda:99: this machine has" in x]
    assert len(lines) == 1, text
    assert lines[0].startswith("ERROR: --fgbmk-model=timm:test_vit: device=cuda:99: this ")
    assert lines[0].endswith(FIX)
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_hf_fingerprint_does_not_depend_on_how_the_folder_was_named(
    files, tmp_path, monkeypatch
) -> None:
    llava = files["llava"]
    a = load_model(f"hf:{llava}", device="cpu", dtype="fp32").fingerprint
    link = tmp_path / "my-model"
    link.symlink_to(llava)
    assert load_model(f"hf:{link}", device="cpu", dtype="fp32").fingerprint == a
    monkeypatch.chdir(llava.parent)
    assert load_model(f"hf:./{llava.name}/", device="cpu", dtype="fp32").fingerprint == a
