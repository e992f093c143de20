"""Tiny local checkpoints: every family builds from configs, deterministically, offline."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.models import tiny
from pytest_fgbmk.models.options import ModelOptions

NEEDS_NUM2WORDS = "smolvlm's processor imports num2words, which is not installed"


def _families() -> list:
    out = []
    for fam in tiny.FAMILIES:
        marks = []
        if fam == "smolvlm":
            try:
                import num2words  # noqa: F401
            except ImportError:
                marks.append(pytest.mark.skip(reason=NEEDS_NUM2WORDS))
        out.append(pytest.param(fam, marks=marks))
    return out


def _weights_digest(folder: Path) -> str:
    from safetensors.torch import load_file

    tensors = load_file(folder / "model.safetensors")
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode() + tensors[name].contiguous().view(-1).numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory) -> Path:
    return tiny.build_tiny("llava", tmp_path_factory.mktemp("tiny") / "llava")


@pytest.mark.parametrize("family", _families())
def test_every_family_writes_a_small_complete_checkpoint(family, tmp_path):
    out = tiny.build_tiny(family, tmp_path / family)
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= names
    assert "processor_config.json" in names or "preprocessor_config.json" in names
    if family != "blip2":  # BLIP-2 has no chat template: it prompts "Question: … Answer:"
        assert "chat_template.jinja" in names
    total = sum(p.stat().st_size for p in out.iterdir())
    assert total < 2_000_000
    config = json.loads((out / "config.json").read_text())
    expected_type = {"blip2": "blip-2"}.get(family, family)
    assert config["model_type"] == expected_type


def test_same_seed_same_weights_other_seed_other_weights(llava_dir, tmp_path):
    again = tiny.build_tiny("llava", tmp_path / "again", seed=0)
    other = tiny.build_tiny("llava", tmp_path / "other", seed=1)
    assert _weights_digest(again) == _weights_digest(llava_dir)
    assert _weights_digest(other) != _weights_digest(llava_dir)


def test_build_does_not_disturb_the_global_rng(tmp_path):
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny.build_tiny("llava", tmp_path / "x", seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_unknown_family_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="unknown tiny model family 'gpt'.*llava.*qwen2_5_vl"):
        tiny.build_tiny("gpt", tmp_path)


def test_llava_tokenizer_keeps_image_and_chat_tokens_whole(llava_dir):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(llava_dir)
    tok = proc.tokenizer
    ids = tok.encode("<image>", add_special_tokens=False)
    assert ids == [proc.image_token_id] and len(ids) == 1
    text = proc.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q?"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert text == "USER: <image>\nQ? ASSISTANT:"


@settings(max_examples=30, deadline=None)
@given(text=st.text(max_size=40))
def test_byte_level_vocab_round_trips_any_text(text):
    tok = _llava_tokenizer()
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


_TOKENIZER = []


def _llava_tokenizer():
    if not _TOKENIZER:
        _TOKENIZER.append(
            tiny._tokenizer(["<unk>", "<s>", "</s>", "<pad>", "<image>"], {}, pad_token="<pad>")
        )
    return _TOKENIZER[0]


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(tiny.ENV_DIR, str(tmp_path))
    assert tiny.tiny_cache_dir() == tmp_path / f"tiny-llava-{tiny.TINY_VERSION}"


def test_tiny_llava_is_built_once_and_loaded_through_hf(monkeypatch, tmp_path):
    monkeypatch.setenv(tiny.ENV_DIR, str(tmp_path))
    first = tiny.ensure_tiny("llava")
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert tiny.ensure_tiny("llava") == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert sorted(os.listdir(tmp_path)) == [first.name]  # no staging folder left behind

    with tiny.load_tiny_llava(ModelOptions(device="cpu")) as model:
        assert model.name == "tiny-llava"
        assert model.can_answer and model.can_encode
        assert model.fingerprint.startswith(f"tiny-llava:{tiny.TINY_VERSION}:")
        fingerprint = model.fingerprint

    # Built again elsewhere (other mtimes): the same fingerprint, so baselines travel.
    monkeypatch.setenv(tiny.ENV_DIR, str(tmp_path / "elsewhere"))
    with tiny.load_tiny_llava(ModelOptions(device="cpu")) as again:
        assert again.fingerprint == fingerprint
    with tiny.load_tiny_llava(ModelOptions(device="cpu", system_prompt="x")) as other:
        assert other.fingerprint != fingerprint


def test_build_llava_pads_the_vocabulary_so_every_id_decodes(tmp_path):
    import torch
    from transformers import AutoConfig, AutoProcessor

    torch.manual_seed(0)
    out = tiny.build_llava(tmp_path / "wide", vocab_size=600, text={"num_hidden_layers": 1})
    tok = AutoProcessor.from_pretrained(out).tokenizer
    config = AutoConfig.from_pretrained(out)
    assert len(tok) == 600 and config.text_config.vocab_size == 600
    assert config.text_config.num_hidden_layers == 1
    assert config.image_seq_length == 16  # (32 px / 8 px) ** 2
    last = tok.decode([599])
    assert last.startswith("<w") and tok.convert_tokens_to_ids(last) == 599
