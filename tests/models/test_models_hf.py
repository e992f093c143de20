"""The ``hf:`` adapter on tiny checkpoints of every family, built locally from configs."""

from __future__ import annotations

import json
import os
import shutil
import sys
import types
from pathlib import Path

import pytest
import torch
from PIL import Image

from pytest_fgbmk.errors import ConfigError, ModelError
from pytest_fgbmk.models import hf, tiny
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings
from pytest_fgbmk.models.options import ModelOptions

SETTINGS = GenerationSettings(max_new_tokens=6)
CPU = {"device": "cpu", "dtype": "fp32"}


def _families() -> list:
    out = []
    for fam in tiny.FAMILIES:
        marks = []
        if fam == "smolvlm":
            try:
                import num2words  # noqa: F401
            except ImportError:
                marks.append(pytest.mark.skip(reason="smolvlm's processor needs num2words"))
        out.append(pytest.param(fam, marks=marks))
    return out


def _requests(n: int = 5) -> list[AnswerRequest]:
    """Images of different sizes and prompts of different lengths (so padding matters)."""
    out = []
    for i in range(n):
        img = Image.new(
            "RGB", (40 + 23 * i, 30 + 11 * i), (37 * i % 256, 90 + 20 * i, 200 - 30 * i)
        )
        img.putpixel((i, i), (255, 255, 255))
        out.append(AnswerRequest(img, "Is this a photo of a bird? " * (1 + i % 3)))
    return out


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ckpt")


def _checkpoint(root: Path, family: str) -> Path:
    out = root / family
    if not (out / "config.json").is_file():
        tiny.build_tiny(family, out)
    return out


@pytest.fixture(scope="module")
def llava(checkpoints):
    return hf.load_hf(str(_checkpoint(checkpoints, "llava")), ModelOptions(**CPU, batch_size=4))


@pytest.mark.parametrize("family", _families())
def test_batched_answers_equal_one_at_a_time(family, checkpoints):
    path = _checkpoint(checkpoints, family)
    model = hf.load_hf(str(path), ModelOptions(**CPU, batch_size=4))
    try:
        assert isinstance(model, hf.HfVisionLanguageModel) and model.can_answer
        reqs = _requests(5)  # batches of 4 and 1: padding inside a batch and across
        batched = model.answer(reqs, SETTINGS)
        single = [model.answer([r], SETTINGS)[0] for r in reqs]
        assert batched == single
        assert len(batched) == 5 and all(isinstance(a, str) for a in batched)
        assert any(batched), "a random model should produce some text"
        assert all(a == a.strip() for a in batched)
    finally:
        model.close()


def test_only_new_tokens_are_decoded(llava, monkeypatch):
    """What is decoded is the generated continuation only, at most max_new_tokens long."""
    tok = llava.processor.tokenizer
    real = tok.batch_decode
    decoded = []

    def spy(ids, **kwargs):
        decoded.append(ids)
        return real(ids, **kwargs)

    monkeypatch.setattr(tok, "batch_decode", spy)
    llava.answer(_requests(3), GenerationSettings(max_new_tokens=3))
    (ids,) = decoded
    assert ids.shape[0] == 3 and ids.shape[1] <= 3
    assert llava.processor.image_token_id not in ids.tolist()


def test_generation_is_left_padded(llava):
    texts = [llava.prompt_text(r.prompt, None) for r in _requests(2)]
    inputs = llava._inputs([r.image for r in _requests(2)], texts)
    mask = inputs["attention_mask"]
    assert mask[:, -1].tolist() == [1, 1]  # every row ends on a real token
    assert mask[0].tolist()[0] == 0 and mask[1].tolist()[0] == 1


def test_chat_template_and_system_prompt(llava):
    assert llava.prompt_text("Is it?", None) == "USER: <image>\nIs it? ASSISTANT:"
    assert llava.prompt_text("Is it?", "Be brief.") == (
        "Be brief.\nUSER: <image>\nIs it? ASSISTANT:"
    )


def test_system_prompt_from_settings_changes_the_answers(llava):
    reqs = _requests(2)
    plain = llava.answer(reqs, SETTINGS)
    with_system = llava.answer(reqs, GenerationSettings(max_new_tokens=6, system_prompt="A B C"))
    assert plain != with_system


def test_blip2_uses_its_own_prompt_format(checkpoints):
    model = hf.load_hf(str(_checkpoint(checkpoints, "blip2")), ModelOptions(**CPU))
    assert model.prompt_text("Is it red?", None) == "Question: Is it red? Answer:"
    assert model.prompt_text("Is it red?", "Be brief.") == "Be brief. Question: Is it red? Answer:"


def test_prompt_format_option(checkpoints):
    path = str(_checkpoint(checkpoints, "llava"))
    opts = ModelOptions(**CPU, extra={"prompt_format": "<image>\n{prompt}\nAnswer:"})
    model = hf.load_hf(path, opts)
    assert model.prompt_text("Q?", None) == "<image>\nQ?\nAnswer:"
    assert len(model.answer(_requests(2), SETTINGS)) == 2
    with pytest.raises(ConfigError, match=r"prompt_format must contain \{prompt\}"):
        hf.load_hf(path, ModelOptions(**CPU, extra={"prompt_format": "no placeholder"}))


def test_missing_chat_template_names_the_fix(checkpoints, tmp_path):
    copy = tmp_path / "no-template"
    shutil.copytree(_checkpoint(checkpoints, "llava"), copy)
    (copy / "chat_template.jinja").unlink()
    with pytest.raises(ModelError, match="no chat template.*prompt_format"):
        hf.load_hf(str(copy), ModelOptions(**CPU))


@pytest.mark.parametrize("family", ["llava", "internvl", "blip2"])
def test_encode_views_and_aligned_is_the_projector_output(family, checkpoints):
    model = hf.load_hf(str(_checkpoint(checkpoints, family)), ModelOptions(**CPU, batch_size=2))
    images = [r.image for r in _requests(3)]
    views = model.encode(images)
    cfg = model.model.config
    vis, txt = cfg.vision_config.hidden_size, cfg.text_config.hidden_size
    depth = cfg.vision_config.num_hidden_layers
    assert {k: tuple(v.shape) for k, v in views.items()} == {
        "cls": (3, vis),
        "patch_mean": (3, vis),
        "blocks": (3, depth, vis),  # the tiny towers have 2 or 3 layers
        "aligned": (3, txt),
    }
    # Reference: run the tower and projector by hand on the first image.
    ip = model.processor.image_processor
    extra = {"crop_to_patches": False} if family == "internvl" else {}
    pixels = ip(images=images[:1], return_tensors="pt", **extra)["pixel_values"]
    inner = model.model if family == "blip2" else model.model.model
    with torch.no_grad():
        if family == "blip2":
            tower = inner.vision_model(pixel_values=pixels, output_hidden_states=True)
            chosen = tower.last_hidden_state
            queries = inner.qformer(
                query_embeds=inner.query_tokens, encoder_hidden_states=chosen
            ).last_hidden_state
            projected = inner.language_projection(queries)
        else:
            tower = inner.vision_tower(pixel_values=pixels, output_hidden_states=True)
        if family == "llava":
            chosen = tower.hidden_states[-2]
            projected = inner.multi_modal_projector(chosen[:, 1:])
        elif family == "internvl":
            chosen = tower.last_hidden_state
            grid = chosen[:, 1:].reshape(1, 4, 4, -1)
            shuffled = inner.pixel_shuffle(grid, scale_factor=cfg.downsample_ratio)
            projected = inner.multi_modal_projector(shuffled.reshape(1, -1, shuffled.shape[-1]))
    torch.testing.assert_close(views["cls"][0], chosen[0, 0])
    torch.testing.assert_close(views["patch_mean"][0], chosen[0, 1:].mean(0))
    torch.testing.assert_close(views["aligned"][0], projected[0].mean(0))
    if family != "blip2":  # BLIP-2's last block output is before its post-layernorm
        torch.testing.assert_close(views["blocks"][0, -1], tower.hidden_states[-1][0, 0])
    # Batched encoding equals one image at a time.
    alone = model.encode(images[2:])
    for name in views:
        torch.testing.assert_close(views[name][2:], alone[name], rtol=1e-4, atol=1e-5)


def test_families_without_encode_say_so(checkpoints):
    model = hf.load_hf(str(_checkpoint(checkpoints, "qwen2_5_vl")), ModelOptions(**CPU))
    assert not model.can_encode
    with pytest.raises(TypeError, match="cannot encode"):
        model.encode([Image.new("RGB", (8, 8))])


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_qwen_image_size_sets_the_pixel_budget(family, checkpoints):
    path = str(_checkpoint(checkpoints, family))
    big = Image.new("RGB", (224, 168), (10, 20, 30))

    def image_tokens(model) -> int:
        text = model.prompt_text("Q?", None)
        ids = model._inputs([big], [text])["input_ids"][0].tolist()
        return ids.count(model.processor.image_token_id)

    default = hf.load_hf(path, ModelOptions(**CPU))
    small = hf.load_hf(path, ModelOptions(**CPU, image_size=56))
    assert small.preprocessing.size == 56 and default.preprocessing.size == 112
    assert image_tokens(default) == 12  # 112x84 px: 8x6 patches of 14 px, merged 2x2
    assert image_tokens(small) == 2  # at most 56*56 px: 4x2 patches, merged 2x2
    explicit = hf.load_hf(path, ModelOptions(**CPU, extra={"max_pixels": 56 * 56}))
    assert image_tokens(explicit) == 2
    assert small.fingerprint != default.fingerprint
    with pytest.raises(ConfigError, match="min_pixels .* must not exceed max_pixels"):
        hf.load_hf(path, ModelOptions(**CPU, extra={"min_pixels": 9000, "max_pixels": 4000}))


def test_fixed_size_families_reject_image_size(checkpoints):
    with pytest.raises(ConfigError, match="image_size cannot be changed for 'llava'"):
        hf.load_hf(str(_checkpoint(checkpoints, "llava")), ModelOptions(**CPU, image_size=64))
    with pytest.raises(ConfigError, match="max_patches"):
        hf.load_hf(str(_checkpoint(checkpoints, "internvl")), ModelOptions(**CPU, image_size=64))


def test_preprocessing_reports_the_processor(llava):
    pre = llava.preprocessing
    assert pre.size == 32 and pre.crop == "center"
    assert pre.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    assert pre.extra == {"family": "llava"}


def test_fingerprint_is_cheap_and_tracks_weights_and_options(checkpoints, tmp_path):
    copy = tmp_path / "ck"
    shutil.copytree(_checkpoint(checkpoints, "llava"), copy)
    base = hf.checkpoint_fingerprint(copy, ModelOptions(**CPU))
    assert hf.checkpoint_fingerprint(copy, ModelOptions(**CPU)) == base
    assert hf.checkpoint_fingerprint(copy, ModelOptions(device="cpu", dtype="bf16")) != base
    assert hf.checkpoint_fingerprint(copy, ModelOptions(**CPU, system_prompt="x")) != base
    weights = copy / "model.safetensors"
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    touched = hf.checkpoint_fingerprint(copy, ModelOptions(**CPU))
    assert touched != base
    template = copy / "chat_template.jinja"
    template.write_text(template.read_text() + " ")
    assert hf.checkpoint_fingerprint(copy, ModelOptions(**CPU)) != touched


def test_missing_folder_is_a_clear_error():
    with pytest.raises(ModelError, match="no such folder"):
        hf.load_hf("/nonexistent/fgbmk/checkpoint", ModelOptions(**CPU))


def test_uncached_repo_id_is_not_downloaded(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match=r"not on disk.*hf download fgbmk/absent"):
        hf.load_hf("fgbmk/absent", ModelOptions(**CPU))
    assert list(tmp_path.iterdir()) == []


def test_repo_id_in_the_hf_cache_loads_offline(monkeypatch, tmp_path, checkpoints):
    import huggingface_hub.constants

    repo = tmp_path / "models--fgbmk--tiny-llava"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(_checkpoint(checkpoints, "llava"), repo / "snapshots" / commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    model = hf.load_hf("fgbmk/tiny-llava", ModelOptions(**CPU))
    assert model.name == "hf:fgbmk/tiny-llava"
    assert len(model.answer(_requests(1), SETTINGS)) == 1


def test_folder_without_config_and_file_targets(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        hf.load_hf(str(tmp_path), ModelOptions(**CPU))
    file = tmp_path / "weights.bin"
    file.write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file"):
        hf.load_hf(str(file), ModelOptions(**CPU))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"config.json: cannot be read as JSON"):
        hf.load_hf(str(tmp_path), ModelOptions(**CPU))


def test_remote_code_needs_the_explicit_option(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "my_vlm",
                "auto_map": {
                    "AutoConfig": "configuration_my_vlm.MyConfig",
                    "AutoModelForImageTextToText": "modeling_my_vlm.MyModel",
                },
            }
        )
    )
    with pytest.raises(ModelError, match="custom code.*--fgbmk-model-arg trust_remote_code=true"):
        hf.load_hf(str(tmp_path), ModelOptions(**CPU))


@pytest.mark.parametrize("trust", [False, True])
def test_remote_code_without_an_image_text_to_text_auto_map_is_refused_at_once(tmp_path, trust):
    """It used to ask for trust_remote_code=true first, and refuse once given it."""
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "internvl_chat",
                "auto_map": {
                    "AutoConfig": "configuration_internvl_chat.InternVLChatConfig",
                    "AutoModel": "modeling_internvl_chat.InternVLChatModel",
                },
            }
        )
    )
    with pytest.raises(ModelError) as info:
        hf.load_hf(str(tmp_path), ModelOptions(**CPU, trust_remote_code=trust))
    assert str(info.value) == (
        f"hf:{tmp_path}: model_type 'internvl_chat' is custom code whose config.json auto_map "
        "(AutoConfig, AutoModel) has no AutoModelForImageTextToText, so it cannot answer here "
        "even with trust_remote_code; use the transformers-native version of the checkpoint "
        "(e.g. the '-hf' repo)"
    )


def test_text_only_models_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelError, match="'bert' is neither an image-text-to-text model"):
        hf.load_hf(str(tmp_path), ModelOptions(**CPU))


@pytest.mark.parametrize("model_type", ["dinov2", "clip", "siglip_vision_model"])
def test_encoders_are_dispatched_to_hf_encoder(model_type, tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    calls = []
    fake = types.ModuleType("pytest_fgbmk.models.hf_encoder")
    fake.load_hf_encoder = lambda target, options: calls.append((target, options)) or "encoder"
    monkeypatch.setitem(sys.modules, "pytest_fgbmk.models.hf_encoder", fake)
    opts = ModelOptions(**CPU)
    assert hf.load_hf(str(tmp_path), opts) == "encoder"
    assert calls == [(str(tmp_path), opts)]


def test_out_of_memory_halves_the_batch_and_remembers(checkpoints, monkeypatch):
    model = hf.load_hf(str(_checkpoint(checkpoints, "llava")), ModelOptions(**CPU, batch_size=8))
    reqs = _requests(5)
    expected = model.answer(reqs, SETTINGS)
    real = model._generate
    sizes = []

    def tight(images, texts, settings):
        sizes.append(len(images))
        if len(images) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(images, texts, settings)

    monkeypatch.setattr(model, "_generate", tight)
    assert model.answer(reqs, SETTINGS) == expected
    assert sizes == [5, 4, 2, 2, 1] and model.batch_size == 2
    sizes.clear()
    model.answer(reqs, SETTINGS)
    assert sizes == [2, 2, 1]


def test_other_errors_are_not_retried(llava, monkeypatch):
    def broken(images, texts, settings):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(llava, "_generate", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        llava.answer(_requests(2), SETTINGS)


def test_absent_cuda_device_is_a_clear_error(checkpoints, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"device=cuda:1: this machine has no CUDA device"):
        hf.load_hf(str(_checkpoint(checkpoints, "llava")), ModelOptions(device="cuda:1"))


def test_close_frees_the_model(checkpoints):
    model = hf.load_hf(str(_checkpoint(checkpoints, "llava")), ModelOptions(**CPU))
    model.close()
    assert model.model is None
    model.close()  # idempotent
