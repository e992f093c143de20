"""Constructed runs for the report tests: results.json and samples.jsonl written by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pytest_fgbmk.report.results import (
    CaseResult,
    RunInfo,
    RunResults,
    SampleRecord,
    write_results,
    write_samples,
)


def case(
    dataset: str,
    task: str,
    facet: str,
    qtype: str,
    value: float,
    *,
    metric: str = "accuracy",
    n: int = 100,
    **extra,
) -> CaseResult:
    middle = "knowledge_bias" if task == "knowledge_bias" else facet
    cid = f"{dataset}-{middle}-{qtype}" if qtype else f"{dataset}-{task}-{facet or metric}"
    return CaseResult(
        case_id=extra.pop("case_id", cid),
        dataset=dataset,
        task=task,
        facet=facet,
        qtype=qtype,
        metric=metric,
        value=value,
        n=n,
        low=max(0.0, value - 5),
        high=min(100.0, value + 5),
        **extra,
    )


def run_info(spec: str, **extra) -> RunInfo:
    return RunInfo(
        model={"spec": spec, "fingerprint": f"fp-{spec}"},
        generation={"max_new_tokens": 32, "temperature": 0.0},
        batch_size=8,
        seed=0,
        templates="original",
        scoring="strict",
        datasets={"synth_birds": {"index_hash": "abc", "images": 10}},
        **extra,
    )


def write_run(
    folder: Path,
    spec: str,
    cases: Sequence[CaseResult],
    samples: Sequence[SampleRecord] | None = None,
    **run_extra,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    results = RunResults(
        run_info(spec, **run_extra), tuple(cases), "samples.jsonl" if samples is not None else None
    )
    path = write_results(results, folder)
    if samples is not None:
        write_samples(samples, folder / "samples.jsonl")
    return path


def sample(
    case_id: str,
    qid: str,
    correct: bool,
    *,
    response: str = "yes",
    prompt: str = "Is this a bird?",
    image: str = "img.png",
    dataset: str = "synth_birds",
    task: str = "granularity",
    facet: str = "species",
    qtype: str = "tf",
) -> SampleRecord:
    return SampleRecord(
        id=qid,
        case_id=case_id,
        dataset=dataset,
        task=task,
        facet=facet,
        qtype=qtype,
        image=image,
        category="cat",
        prompt=prompt,
        options=(),
        truth="yes",
        response=response,
        parsed="yes" if response == "yes" else None,
        how="exact",
        correct=correct,
    )


def machine_runs(table: Mapping[str, Sequence[float]], datasets: Sequence[str]) -> dict:
    """spec → retrieval-mAP cases over ``datasets`` (values in the given order)."""
    return {
        spec: [
            case(ds, "retrieval", "", "", v, metric="mAP")
            for ds, v in zip(datasets, values, strict=True)
        ]
        for spec, values in table.items()
    }
