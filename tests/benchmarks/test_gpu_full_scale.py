"""``benchmarks/gpu_full_scale.py`` (issue 17 point 3): its prefill FLOP count, and its
``--smoke`` run (the GPU script's code on the CPU with tiny dims)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from pytest_fgbmk.models import tiny
from pytest_fgbmk.models.hf import load_hf
from pytest_fgbmk.models.options import ModelOptions
from tests.harness import REPO

SCRIPT = REPO / "benchmarks" / "gpu_full_scale.py"


@pytest.fixture(scope="module")
def script():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        return importlib.import_module("gpu_full_scale")
    finally:
        sys.path.remove(str(SCRIPT.parent))


def test_prefill_flops_equal_torchs_flop_counter_on_a_tiny_llava(script, tmp_path):
    """Every matrix product of a real forward (eager attention, the last position's
    logits only, as generate's prefill) counted by torch.utils.flop_counter."""
    torch.manual_seed(0)
    path = tiny.build_llava(tmp_path / "llava", text={"num_hidden_layers": 3}, vocab_size=500)
    model = load_hf(str(path), ModelOptions(device="cpu", dtype="fp32"))
    try:
        model.model.set_attn_implementation("eager")
        text = model.prompt_text("Is this a photo of a bird? Answer yes or no.", None)
        inputs = model._inputs([Image.new("RGB", (50, 40), (10, 200, 30))], [text])
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model.model(**inputs, logits_to_keep=1)
        s = int(inputs["input_ids"].shape[1])
        full = script.prefill_flops(model.model.config, s, causal=False)
        assert sum(full.values()) == counter.get_total_flops()
        causal = script.prefill_flops(model.model.config, s)
        text_cfg = model.model.config.text_config
        upper = s * s - s * (s + 1) // 2  # scores above the diagonal, per head dim
        assert full["language"] - causal["language"] == (
            text_cfg.num_hidden_layers * 4 * upper * text_cfg.hidden_size
        )
        assert {k: v for k, v in full.items() if k != "language"} == {
            k: v for k, v in causal.items() if k != "language"
        }
    finally:
        model.close()


def test_llava_7b_prefill_is_about_twice_the_parameters_per_token(script):
    """The issue's figure (about 9 TFLOP at 576 image + 60 text tokens), and the usual
    2 × parameters × tokens estimate from the model's parameters (built on the meta device)."""
    from gpu_check_lvlm import TEXT_FULL, VISION_FULL, VOCAB_FULL
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig
    from transformers import LlavaForConditionalGeneration as Llava

    config = LlavaConfig(
        vision_config=CLIPVisionConfig(**VISION_FULL, num_hidden_layers=24),
        text_config=LlamaConfig(**TEXT_FULL, num_hidden_layers=32, vocab_size=VOCAB_FULL),
        vision_feature_layer=-2, vision_feature_select_strategy="default",
    )  # fmt: skip
    flops = script.prefill_flops(config, 576 + 60)
    assert sum(flops.values()) == 8_750_021_836_800  # 8.75 TFLOP: 113 questions/s at 989
    with torch.device("meta"):
        model = Llava(config)
    lm = sum(p.numel() for p in model.model.language_model.parameters())
    lm -= model.model.language_model.embed_tokens.weight.numel()
    vision = sum(p.numel() for p in model.model.vision_tower.parameters())
    estimate = 2 * lm * 636 + 2 * vision * 577
    assert 0.98 < (flops["language"] + flops["vision"]) / estimate < 1.03


@pytest.mark.slow  # about 40 s on a busy 2-core machine
def test_smoke_runs_every_part_and_writes_its_figures(tmp_path, synth_dir):
    out = tmp_path / "figures.json"
    env = dict(os.environ, FGBMK_SYNTH_DIR=str(synth_dir), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.startswith("load average before:")
    assert "load average after:" in proc.stdout and "all checks passed" in proc.stdout
    figures = json.loads(out.read_text())
    assert figures["smoke"] is True and figures["ok"] is True
    feats = figures["features"]
    assert feats["images_per_s"] > 0 and feats["bare_images_per_s"] > 0
    assert feats["cos_min"] > 0.999  # fp32 on the CPU: the same model twice
    assert set(feats["target"]) == {"of_bare", "want_at_least", "met"}
    ret = figures["retrieval"]
    assert ret["n"] == 2000 and ret["max_ap_error"] <= 1e-9 and ret["chunks_agree"]
    assert ret["target"]["of_floor"] == pytest.approx(ret["ours_s"] / ret["floor_s"])
    lvlm = figures["lvlm"]
    assert lvlm["questions"] == 24 and sum(lvlm["mix"].values()) == 24
    assert [r["fixed_new_tokens"] for r in lvlm["runs"]] == [
        "tf:1,mc:1,sa:8",
        "1",
        "tf:1,mc:1,sa:8",
    ]
    assert [r["hf_batch"] for r in lvlm["runs"]] == [8, 8, 16]
    for run in lvlm["runs"]:
        assert run["errors"] == 0 and run["qps"] > 0
        assert run["of_bound"] == pytest.approx(run["qps"] / lvlm["bound_qps"])
    assert lvlm["target"]["of_bound"] == lvlm["runs"][0]["of_bound"]


def test_an_unknown_part_is_refused(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--parts", "features,gpus"],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--parts: unknown part 'gpus'; use features, retrieval, lvlm" in proc.stderr
