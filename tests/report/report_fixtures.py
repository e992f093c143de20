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


XSS = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"

#: Anchors of the sections a full run shows, and the figures it has.
SECTIONS = (
    "baseline", "granularity", "knowledge-bias", "attributes", "retrieval-probe",
    "meta", "robustness", "alignment", "cases", "run",
)  # fmt: skip
FIGURE_IDS = (
    "levels_synth_birds", "levels_synth_flowers", "categories_synth_birds",
    "retrieval-probe", "meta", "robustness", "alignment",
)  # fmt: skip


def full_run(folder: Path, *, value_shift: float = 0.0, xss: bool = True) -> Path:
    """A run with a case for every section of the report, samples and one thumbnail."""
    from PIL import Image

    from pytest_fgbmk.report.writer import thumbnail_name

    cases = []
    for ds, levels in (
        ("synth_birds", ("genus", "species")),
        ("synth_flowers", ("family", "genus", "species")),
    ):
        for i, lv in enumerate(levels):
            cases.append(case(ds, "granularity", lv, "tf", 80.0 - 10 * i + value_shift))
            cases.append(case(ds, "granularity", lv, "mc", 70.0 - 10 * i + value_shift))
        cases.append(case(ds, "granularity", levels[-1], "sa", 20.0 + value_shift))
    ranked = [["grey finch", 25.0], ["red finch", 50.0], ["blue finch", 75.0]]
    cases.append(
        case("synth_birds", "knowledge_bias", "species", "tf", 50.0 + value_shift,
             details={"ranked": ranked, "mean_category_accuracy": 50.0,
                      "worst_decile_accuracy": 25.0, "spread": 20.4,
                      "per_image_accuracy": 12.5, "images": 8})
    )  # fmt: skip
    for facet, v in (("wing color", 60.0), ("breast color", 40.0), ("bill shape", 55.0),
                     ("wing pattern", 45.0), ("bill length", 35.0), ("size", 65.0)):  # fmt: skip
        cases.append(case("synth_birds", "attribute", facet, "tf", v + value_shift))
        cases.append(case("synth_birds", "attribute", facet, "mc", v - 10 + value_shift))
    for ds, mAP, top1 in (("synth_birds", 41.0, 77.0), ("synth_flowers", 52.0, 83.0)):
        cases.append(case(ds, "retrieval", "", "", mAP + value_shift, metric="mAP"))
        cases.append(case(ds, "linear_probe", "", "", top1 + value_shift, metric="top1"))
        cases.append(case(ds, "meta_categories", "single", "", top1, metric="top1"))
        cases.append(case(ds, "meta_categories", "multiple", "", top1 - 4, metric="top1"))
        cases.append(case(ds, "robustness", "clean", "", top1, metric="top1"))
        cases.append(case(ds, "robustness", "perturbed", "", top1 - 30, metric="top1"))
        cases.append(case(ds, "alignment", "origin", "", top1, metric="top1"))
        cases.append(case(ds, "alignment", "aligned", "", top1 - 8, metric="top1"))
    species = next(c for c in cases if c.case_id == "synth_birds-species-tf")
    failed = CaseResult(**{**species.as_dict(), "outcome": "failed", "baseline": 90.0,
                           "delta": species.value - 90.0, "p_value": 0.001,
                           "low": species.low, "high": species.high})  # fmt: skip
    cases = [failed if c.case_id == failed.case_id else c for c in cases]
    cases = [c if c.outcome else CaseResult(**{**c.as_dict(), "outcome": "passed",
                                               "low": c.low, "high": c.high}) for c in cases]  # fmt: skip
    samples = [
        sample(failed.case_id, "q-right", True, image="img/a.png"),
        sample(
            failed.case_id,
            "q-flip",
            False,
            response=XSS if xss else "no",
            image="img/b.png",
            prompt="Is this a <b>red finch</b>?",
        ),  # fmt: skip
        sample(failed.case_id, "q-wrong", False, response="no", image="img/c.png"),
    ]
    path = write_run(folder, "chance", cases, samples)
    thumb = folder / thumbnail_name("synth_birds", "img/b.png")
    thumb.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (200, 30, 30)).save(thumb, "JPEG")
    return path


def baseline_run(folder: Path) -> Path:
    """The same cases 10 points higher, with q-flip answered right (so it flipped)."""
    full_run(folder, value_shift=10.0, xss=False)
    lines = (folder / "samples.jsonl").read_text().splitlines()
    fixed = [line.replace('"id": "q-flip"', '"id": "q-flip"').replace(
        '"correct": false', '"correct": true') if '"q-flip"' in line else line for line in lines]  # fmt: skip
    (folder / "samples.jsonl").write_text("\n".join(fixed) + "\n")
    return folder / "results.json"
