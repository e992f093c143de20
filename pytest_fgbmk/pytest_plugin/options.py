"""The FG-BMK command-line options and ini keys, read into the run's options and gate settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from xdist import get_xdist_worker_id, is_xdist_controller, is_xdist_worker

from pytest_fgbmk.baselines.store import (
    BaselineStore,
    check_alias,
    default_alias,
    parse_rate,
    update_command,
)
from pytest_fgbmk.data.images import EXIF_APPLY, EXIF_MODES
from pytest_fgbmk.run.options import (
    DEMO_MODEL,
    PROTOCOLS,
    SCORING,
    SYNTH_SIZES,
    TEMPLATES,
    RunOptions,
)
from pytest_fgbmk.run.run import GateSettings

#: (option, dest/ini name, help, kwargs) — every option is also an ini key of the same name.
OPTIONS: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "--fgbmk-model",
        "fgbmk_model",
        f"model spec to benchmark (e.g. oracle, {DEMO_MODEL}, hf:PATH, package.module:factory)",
        {},
    ),
    (
        "--fgbmk-model-arg",
        "fgbmk_model_arg",
        "model argument key=value (repeatable)",
        {"action": "append"},
    ),
    (
        "--fgbmk-model-args-file",
        "fgbmk_model_args_file",
        "TOML or YAML file of model arguments",
        {},
    ),
    (
        "--fgbmk-data",
        "fgbmk_data",
        "folder holding the datasets (default: the bundled synthetic datasets)",
        {},
    ),
    (
        "--fgbmk-datasets",
        "fgbmk_datasets",
        "comma-separated dataset names to run (default: all found)",
        {},
    ),
    (
        "--fgbmk-limit",
        "fgbmk_limit",
        "at most N questions per case (deterministic stratified subset)",
        {},
    ),
    (
        "--fgbmk-batch-size",
        "fgbmk_batch_size",
        "questions per model batch (default 32; an openai: model's is at least 4 x its concurrency)",
        {},
    ),
    ("--fgbmk-device", "fgbmk_device", "model device: auto, cpu, cuda or cuda:N", {}),
    ("--fgbmk-dtype", "fgbmk_dtype", "model dtype: auto, bf16, fp16 or fp32", {}),
    ("--fgbmk-cache", "fgbmk_cache", "answer cache folder (default .fgbmk_cache/)", {}),
    (
        "--fgbmk-no-cache",
        "fgbmk_no_cache",
        "neither read nor write the answer cache",
        {"action": "store_true", "default": None},
    ),
    (
        "--fgbmk-templates",
        "fgbmk_templates",
        f"question templates: {' or '.join(TEMPLATES)} (default original)",
        {},
    ),
    (
        "--fgbmk-scoring",
        "fgbmk_scoring",
        f"answer scoring: {' or '.join(SCORING)} (default strict)",
        {},
    ),
    (
        "--fgbmk-exif-orientation",
        "fgbmk_exif_orientation",
        f"EXIF orientation of image files: {' or '.join(EXIF_MODES)} (default apply: turned "
        "upright as transformers' load_image does; recorded in each baseline)",
        {},
    ),
    (
        "--fgbmk-protocol",
        "fgbmk_protocol",
        f"machine cases' protocol: {' or '.join(PROTOCOLS)} (default standard); release also "
        "reports the FG-BMK release's figures (its retrieval rank, per-class recall, its probe "
        "with the head chosen on test) beside ours, never gated",
        {},
    ),
    (
        "--fgbmk-judge",
        "fgbmk_judge",
        "model spec asked to grade the answers strict scoring leaves unparsed (off by default; "
        "never with --fgbmk-scoring=official), e.g. openai:gpt-4o",
        {"metavar": "SPEC"},
    ),
    (
        "--fgbmk-judge-arg",
        "fgbmk_judge_arg",
        "judge model argument key=value (repeatable), as --fgbmk-model-arg for the model",
        {"action": "append"},
    ),
    (
        "--fgbmk-report",
        "fgbmk_report",
        "folder to write results.json, samples.jsonl and report.html into",
        {},
    ),
    (
        "--fgbmk-step-summary",
        "fgbmk_step_summary",
        "append the Markdown verdict table to this file (default: $GITHUB_STEP_SUMMARY when "
        "set, as GitHub Actions sets it)",
        {},
    ),
    (
        "--fgbmk-update-baselines",
        "fgbmk_update_baselines",
        "write the baselines of the cases that ran (syrupy's --snapshot-update, keeping the others)",
        {"action": "store_true", "default": None},
    ),
    (
        "--fgbmk-baseline-alias",
        "fgbmk_baseline_alias",
        "baseline folder under baselines/ (default: the model spec's name)",
        {},
    ),
    (
        "--fgbmk-alpha",
        "fgbmk_alpha",
        "run-level false alarm of the regression gate (default 0.01)",
        {},
    ),
    (
        "--fgbmk-min-drop",
        "fgbmk_min_drop",
        "practical margin: the smallest drop in points that can fail (default 1.0)",
        {},
    ),
    (
        "--fgbmk-plan",
        "fgbmk_plan",
        "plan only (collection only; no model loaded, nothing answered): print each selected "
        "case's minimum detectable drop and the --fgbmk-limit that detects a drop of D points "
        "with 90 percent power",
        {"metavar": "D"},
    ),
    (
        "--fgbmk-plan-flips",
        "fgbmk_plan_flips",
        "with --fgbmk-plan: the share of answers (percent) an unchanged checkpoint flips "
        "between runs (default 0)",
        {"metavar": "PCT"},
    ),
    (
        "--fgbmk-synth",
        "fgbmk_synth",
        f"size of the bundled synthetic data: {' or '.join(SYNTH_SIZES)} (default default)",
        {},
    ),
]


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("fgbmk", "FG-BMK fine-grained benchmark")
    for flag, dest, help_text, kwargs in OPTIONS:
        group.addoption(flag, dest=dest, help=help_text, **kwargs)
        ini_type = "linelist" if kwargs.get("action") == "append" else "string"
        if kwargs.get("action") == "store_true":
            ini_type = "bool"
        parser.addini(dest, help=help_text, type=ini_type, default=None)


def _takes_value(kwargs: dict[str, Any]) -> bool:
    return kwargs.get("action") != "store_true"


#: What each option that takes a value wants, for the one-line error of an empty value
#: (every such option of :data:`OPTIONS` has one: a test checks).
WANTED: dict[str, str] = {
    "fgbmk_model": f"a model spec (e.g. oracle or {DEMO_MODEL})",
    "fgbmk_model_arg": "key=value",
    "fgbmk_model_args_file": "a TOML or YAML file",
    "fgbmk_data": "the folder holding the datasets",
    "fgbmk_datasets": "names separated by commas",
    "fgbmk_limit": "a whole number",
    "fgbmk_batch_size": "a whole number",
    "fgbmk_device": "auto, cpu, cuda or cuda:N",
    "fgbmk_dtype": "auto, bf16, fp16 or fp32",
    "fgbmk_cache": "a folder (or --fgbmk-no-cache)",
    "fgbmk_templates": " or ".join(TEMPLATES),
    "fgbmk_scoring": " or ".join(SCORING),
    "fgbmk_exif_orientation": " or ".join(EXIF_MODES),
    "fgbmk_protocol": " or ".join(PROTOCOLS),
    "fgbmk_judge": "a model spec (e.g. openai:gpt-4o)",
    "fgbmk_judge_arg": "key=value",
    "fgbmk_report": "a folder",
    "fgbmk_step_summary": "a file",
    "fgbmk_baseline_alias": "a folder name",
    "fgbmk_alpha": "a rate (e.g. 0.01)",
    "fgbmk_min_drop": "points (e.g. 1.0)",
    "fgbmk_plan": "the drop D in points (e.g. 2)",
    "fgbmk_plan_flips": "a percentage (e.g. 1)",
    "fgbmk_synth": " or ".join(SYNTH_SIZES),
}


def check_values(config: pytest.Config) -> None:
    """Refuse an empty or blank value of any FG-BMK option that takes one (a CI variable
    left unset, ``--fgbmk-model=$MODEL``, once ran on the defaults: the bundled data for
    ``--fgbmk-data=``, baselines/<model>/ for ``--fgbmk-baseline-alias ""``).

    Raises :class:`pytest.UsageError` (exit status 4) naming the option, or the ini key and
    its file, and what to give. A repeatable option is refused when any of its values is.
    """
    for flag, dest, _help, kwargs in OPTIONS:
        if not _takes_value(kwargs):
            continue
        raw = config.getoption(dest)
        where = flag
        if raw is None or raw == []:
            raw = config.getini(dest)
            where = f"{config.inipath or 'the ini file'}: {dest}"
        if raw is None:
            continue
        values = raw if isinstance(raw, list) else [raw]
        if not values or any(not str(v).strip() for v in values):
            raise pytest.UsageError(
                f"{where} is empty; give {WANTED[dest]}, or leave the option out"
            )


def value(config: pytest.Config, dest: str) -> Any:
    """An option's value: the command line first, then the ini key; None when unset."""
    raw = config.getoption(dest)
    if raw is None or raw == []:
        raw = config.getini(dest)
    if raw == [] or raw == "":
        return None
    return raw


def _int_option(config: pytest.Config, dest: str) -> int | None:
    raw = value(config, dest)
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        flag = "--" + dest.replace("_", "-")
        raise pytest.UsageError(f"{flag}={raw!r} is not an integer; give a whole number") from None


class _ConfigHolder:
    """What xdist's role helpers read (``.config``) when only the config is at hand."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config


def is_worker(config: pytest.Config) -> bool:
    return is_xdist_worker(_ConfigHolder(config))  # type: ignore[arg-type]


def is_controller(config: pytest.Config) -> bool:
    try:
        return is_xdist_controller(_ConfigHolder(config))  # type: ignore[arg-type]
    except (AttributeError, ValueError):
        return False


def worker_index(config: pytest.Config) -> int | None:
    """This xdist worker's index (``gw3`` → 3), None outside a worker."""
    if not is_worker(config):
        return None
    wid = get_xdist_worker_id(_ConfigHolder(config))  # type: ignore[arg-type]
    return int(wid[2:]) if wid[2:].isdigit() else 0


def run_options(config: pytest.Config) -> RunOptions:
    """Read the FG-BMK options (command line first, then ini keys)."""
    datasets = value(config, "fgbmk_datasets")
    data = value(config, "fgbmk_data")
    cache = value(config, "fgbmk_cache")
    args_file = value(config, "fgbmk_model_args_file")
    index = worker_index(config)
    count, run_id = 1, None
    if index is not None:
        workerinput = config.workerinput  # type: ignore[attr-defined]
        count = int(workerinput.get("workercount", 1))
        run_id = str(workerinput.get("testrunuid", ""))
    return RunOptions(
        model=value(config, "fgbmk_model"),
        model_args=tuple(value(config, "fgbmk_model_arg") or ()),
        model_args_file=Path(args_file) if args_file else None,
        data=Path(data) if data else None,
        datasets=tuple(n.strip() for n in datasets.split(",") if n.strip()) if datasets else None,
        limit=_int_option(config, "fgbmk_limit"),
        batch_size=_int_option(config, "fgbmk_batch_size"),
        device=value(config, "fgbmk_device"),
        dtype=value(config, "fgbmk_dtype"),
        cache=None
        if value(config, "fgbmk_no_cache")
        else Path(cache)
        if cache
        else Path(config.rootpath) / ".fgbmk_cache",
        templates=value(config, "fgbmk_templates") or "original",
        scoring=value(config, "fgbmk_scoring") or "strict",
        exif_orientation=value(config, "fgbmk_exif_orientation") or EXIF_APPLY,
        judge=value(config, "fgbmk_judge"),
        judge_args=tuple(value(config, "fgbmk_judge_arg") or ()),
        synth=value(config, "fgbmk_synth") or "default",
        protocol=value(config, "fgbmk_protocol") or "standard",
        worker_index=index,
        worker_count=count,
        run_id=run_id,
    )


def updating(config: pytest.Config) -> bool:
    """True when this run writes baselines (ours, or syrupy's own ``--snapshot-update``)."""
    return bool(value(config, "fgbmk_update_baselines")) or bool(
        getattr(config.option, "update_snapshots", False)
    )


def gate_settings(config: pytest.Config, model_spec: str) -> GateSettings:
    """The gate's settings from the options (raises ConfigError naming a bad option)."""
    alpha = value(config, "fgbmk_alpha")
    min_drop = value(config, "fgbmk_min_drop")
    alias = check_alias(value(config, "fgbmk_baseline_alias") or default_alias(model_spec))
    root = Path(config.rootpath)
    return GateSettings(
        store=BaselineStore(root / "baselines", alias),
        alpha=0.01 if alpha is None else parse_rate(alpha, "--fgbmk-alpha", 1e-12, 0.5),
        min_drop=1.0 if min_drop is None else parse_rate(min_drop, "--fgbmk-min-drop", 0.0, 100.0),
        update=updating(config),
        update_command=update_command(tuple(config.invocation_params.args)),
        shown_from=root,
    )
