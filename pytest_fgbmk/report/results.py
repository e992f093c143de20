"""A run's results on disk: ``results.json`` (versioned schema) and ``samples.jsonl``.

The schema is documented in ``SCHEMA.md`` beside this module. ``results.json`` holds every
measured case (metric, n, interval, gate outcome, baseline and delta when the gate knew
them) and what makes the run reproducible (model spec and fingerprint, generation
settings, batch size, seed, templates, scoring, dataset index hashes, package versions,
our version and git hash). ``samples.jsonl`` holds one line per question asked.

Files are written atomically (a temporary file renamed into place), so a run that dies
while writing leaves the previous file, never a half-written one.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_fgbmk import __version__, rule_versions
from pytest_fgbmk.errors import DataFormatError, shown_path

if TYPE_CHECKING:
    from pytest_fgbmk.measurement import Measurement
    from pytest_fgbmk.questions.records import Question

#: Bumped on any change a reader of the previous version would misread.
SCHEMA_VERSION = 1
KIND = "fgbmk-results"
RESULTS_NAME = "results.json"
SAMPLES_NAME = "samples.jsonl"
#: Packages whose versions a run records.
PACKAGES = ("torch", "transformers", "timm", "numpy", "scipy", "scikit-learn", "pytest")
#: JUnit properties the baseline gate writes (a case's other extra properties are details).
GATE_KEYS = frozenset(
    {
        "baseline",
        "delta",
        "p",
        "p_value",
        "p_threshold",
        "baseline_file",
        "baseline_update",
        "fingerprint_differs",
        "gate_note",
    }
)
#: Measurement details that are per-sample lists, not figures (kept out of results.json).
PER_SAMPLE_DETAILS = ("per_query",)


@dataclass(frozen=True)
class CaseResult:
    """One measured case. ``value``, ``low``, ``high``, ``baseline``, ``delta`` in percent.

    ``outcome`` is the test's outcome (passed/failed/skipped, empty when not run under
    pytest); ``gate`` holds every property the gate added (baseline, delta, p …) as given;
    ``details`` the task-specific figures (e.g. the ranked per-category accuracies).
    """

    case_id: str
    dataset: str
    task: str
    facet: str
    qtype: str
    metric: str
    value: float
    n: int
    low: float = math.nan
    high: float = math.nan
    unparsed_rate: float = 0.0
    errors: int = 0
    outcome: str = ""
    nodeid: str = ""
    baseline: float | None = None
    delta: float | None = None
    p_value: float | None = None
    gate: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    refusal_rate: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["gate"] = dict(self.gate)
        d["details"] = dict(self.details)
        for key in ("low", "high"):
            if isinstance(d[key], float) and math.isnan(d[key]):
                d[key] = None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> CaseResult:
        required = ("case_id", "dataset", "task", "metric", "value", "n")
        missing = [k for k in required if k not in d]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        try:
            return cls(
                case_id=str(d["case_id"]),
                dataset=str(d["dataset"]),
                task=str(d["task"]),
                facet=str(d.get("facet", "")),
                qtype=str(d.get("qtype", "")),
                metric=str(d["metric"]),
                value=float(d["value"]),
                n=int(d["n"]),
                low=_float_or_nan(d.get("low")),
                high=_float_or_nan(d.get("high")),
                unparsed_rate=float(d.get("unparsed_rate", 0.0)),
                refusal_rate=float(d.get("refusal_rate", 0.0)),
                errors=int(d.get("errors", 0)),
                outcome=str(d.get("outcome", "")),
                nodeid=str(d.get("nodeid", "")),
                baseline=_float_or_none(d.get("baseline")),
                delta=_float_or_none(d.get("delta")),
                p_value=_float_or_none(d.get("p_value")),
                gate={str(k): str(v) for k, v in dict(d.get("gate") or {}).items()},
                details=dict(d.get("details") or {}),
            )
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from None


def _float_or_nan(v: Any) -> float:
    return math.nan if v is None else float(v)


def _float_or_none(v: Any) -> float | None:
    return None if v is None or v == "" else float(v)


@dataclass(frozen=True)
class RunInfo:
    """What makes a run reproducible. ``model`` holds spec, fingerprint and arguments;
    ``datasets`` maps a dataset name to its index hash and size."""

    model: Mapping[str, Any]
    generation: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    seed: int = 0
    templates: str = ""
    scoring: str = ""
    #: ``--fgbmk-judge``'s spec and args (``"openai:gpt-4o;k=v"``; empty: no judge), and
    #: ``--fgbmk-exif-orientation``; None in a results.json written before they were kept.
    judge: str | None = None
    exif_orientation: str | None = None
    limit: int | None = None
    data: str = ""
    datasets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    missing_datasets: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, Any] = field(default_factory=dict)
    engine: Mapping[str, Any] = field(default_factory=dict)
    started: str = ""
    finished: str = ""
    exit_status: int | None = None

    @property
    def label(self) -> str:
        """How the model is named in tables: its alias, else its spec."""
        return str(self.model.get("alias") or self.model.get("spec") or "model")

    def as_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunInfo:
        if not isinstance(d.get("model"), Mapping):
            raise ValueError("run.model must be an object with the model's spec")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class RunResults:
    """A whole results.json: the run and its cases (``samples`` names the samples file)."""

    run: RunInfo
    cases: tuple[CaseResult, ...]
    samples: str | None = SAMPLES_NAME

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": KIND,
            "run": self.run.as_dict(),
            "cases": [c.as_dict() for c in self.cases],
            "samples": self.samples,
        }

    def case(self, case_id: str) -> CaseResult | None:
        return next((c for c in self.cases if c.case_id == case_id), None)


@dataclass(frozen=True)
class SampleRecord:
    """One question asked, as samples.jsonl stores it (one JSON object a line)."""

    id: str
    case_id: str
    dataset: str
    task: str
    facet: str
    qtype: str
    image: str
    category: str
    prompt: str
    options: tuple[str, ...]
    truth: str
    response: str
    parsed: str | None
    how: str
    correct: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in _SAMPLE_FIELDS}
        d["options"] = list(self.options)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SampleRecord:
        names = [f.name for f in fields(cls)]
        missing = [n for n in names[:15] if n not in d]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        values = {n: d.get(n) for n in names}
        values["options"] = tuple(str(o) for o in d["options"] or ())
        values["correct"] = bool(d["correct"])
        return cls(**values)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# -- building records from a session's objects -------------------------------------------


def case_from_measurement(
    m: Measurement,
    *,
    outcome: str = "",
    nodeid: str = "",
    gate: Mapping[str, str] | None = None,
) -> CaseResult:
    """A case result from a Measurement and the gate's properties (baseline, delta, p)."""
    gate = dict(gate or {})
    return CaseResult(
        case_id=m.case_id,
        dataset=m.dataset,
        task=m.task,
        facet=m.facet,
        qtype=m.qtype,
        metric=m.metric,
        value=float(m.value),
        n=int(m.n),
        low=float(m.low),
        high=float(m.high),
        unparsed_rate=float(m.unparsed_rate),
        refusal_rate=float(m.refusal_rate),
        errors=int(m.errors),
        outcome=outcome,
        nodeid=nodeid,
        baseline=_gate_float(gate, "baseline"),
        delta=_gate_float(gate, "delta"),
        p_value=_gate_float(gate, "p_value", "p"),
        gate=gate,
        details=measurement_details(m.details),
    )


def measurement_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """A measurement's figures for results.json: a machine case's ``properties`` (recall@k,
    top-1, drop …) flattened beside the others; per-sample lists left out (samples hold them)."""
    out: dict[str, Any] = {}
    for key, value in dict(details or {}).items():
        if key in PER_SAMPLE_DETAILS:
            continue
        if key == "properties" and isinstance(value, Mapping):
            out.update({str(k): detail_value(str(k), v) for k, v in value.items()})
        else:
            out[str(key)] = _plain(value)
    return out


def detail_value(key: str, value: Any) -> Any:
    """A machine property as a number where it is one; ``curve`` and ``exact_curve`` (JSON
    text) as objects."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    text = str(value)
    if key in ("curve", "exact_curve"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text else number


def case_from_properties(
    props: Mapping[str, str], *, outcome: str = "", nodeid: str = ""
) -> CaseResult:
    """A case result from a test report's JUnit properties (what an xdist controller sees)."""
    from pytest_fgbmk.report.junit import DISTRIBUTION_KEYS

    own = {
        "metric",
        "value",
        "n",
        "interval_low",
        "interval_high",
        "unparsed_rate",
        "refusal_rate",
        "errors",
        "case",
        "dataset",
        "task",
        "facet",
        "qtype",
        "ranked_categories",
        *DISTRIBUTION_KEYS,
    }
    extra = {k: v for k, v in props.items() if k not in own}
    gate = {k: v for k, v in extra.items() if k in GATE_KEYS}
    details: dict[str, Any] = {k: float(props[k]) for k in DISTRIBUTION_KEYS if k in props}
    if "ranked_categories" in props:
        details["ranked"] = json.loads(props["ranked_categories"])
    # a machine case's own properties (mAP, recall@k, top1, drop, curve …) are its details
    details.update({k: detail_value(k, v) for k, v in extra.items() if k not in GATE_KEYS})
    return CaseResult(
        case_id=props["case"],
        dataset=props.get("dataset", ""),
        task=props.get("task", ""),
        facet=props.get("facet", ""),
        qtype=props.get("qtype", ""),
        metric=props["metric"],
        value=float(props["value"]),
        n=int(props["n"]),
        low=_float_or_nan(props.get("interval_low")),
        high=_float_or_nan(props.get("interval_high")),
        unparsed_rate=float(props.get("unparsed_rate", 0.0)),
        refusal_rate=float(props.get("refusal_rate", 0.0)),
        errors=int(props.get("errors", 0)),
        outcome=outcome,
        nodeid=nodeid,
        baseline=_gate_float(gate, "baseline"),
        delta=_gate_float(gate, "delta"),
        p_value=_gate_float(gate, "p_value", "p"),
        gate=gate,
        details=details,
    )


#: SampleRecord's field names in order (``dataclasses.fields`` is looked up once, not per
#: record: samples.jsonl has a line per question).
_SAMPLE_FIELDS = tuple(f.name for f in fields(SampleRecord))


def _gate_float(gate: Mapping[str, str], *names: str) -> float | None:
    for name in names:
        for key in (name, f"fgbmk_{name}"):
            if key in gate:
                try:
                    return float(str(gate[key]).rstrip("%"))
                except ValueError:
                    return None
    return None


def samples_from_measurement(
    m: Measurement, questions: Sequence[Question], scoring: str = "strict"
) -> list[SampleRecord]:
    """One record per question of the case, in the order asked (parsed answers re-read)."""
    return list(iter_samples(m, questions, scoring))


def iter_samples(
    m: Measurement, questions: Sequence[Question], scoring: str = "strict"
) -> Iterator[SampleRecord]:
    """:func:`samples_from_measurement` a record at a time (the report spools them to disk
    as they come, so no case's records are all held at once).

    Raises ValueError naming the case when an outcome's question is not in ``questions``.
    """
    from pytest_fgbmk.scoring import score

    by_id = {q.id: q for q in questions}
    for o in m.outcomes:
        q = by_id.get(o.question_id)
        if q is None:
            raise ValueError(f"{m.case_id}: outcome for unknown question {o.question_id}")
        parsed = None if o.error is not None else score(q, o.response, scoring).parsed
        yield (
            SampleRecord(
                id=q.id,
                case_id=m.case_id,
                dataset=q.dataset,
                task=q.task,
                facet=q.facet,
                qtype=q.qtype,
                image=q.image,
                category=q.category,
                prompt=q.prompt,
                options=tuple(q.options),
                truth=q.truth,
                response=o.response,
                parsed=parsed,
                how=o.how,
                correct=bool(o.correct),
                error=o.error,
            )
        )


# -- environment ---------------------------------------------------------------------------


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions (None when a package is absent), read without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def cuda_info() -> dict[str, Any]:
    """torch's CUDA build and devices, only when torch is already imported (never loads it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {"cuda": None, "devices": [], "note": "torch was not imported by this run"}
    info: dict[str, Any] = {"cuda": getattr(torch.version, "cuda", None), "devices": []}
    try:
        if torch.cuda.is_available():
            info["devices"] = [
                torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
            ]
    except Exception as e:  # a broken driver must not lose the run's results
        info["note"] = f"CUDA query failed: {e}"
    return info


def git_hash(start: Path | None = None) -> str | None:
    """The commit of the git checkout holding this package, or None outside one."""
    where = Path(start) if start else Path(__file__).resolve().parent
    try:
        r = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = r.stdout.strip()
    return text if r.returncode == 0 and len(text) == 40 else None


def environment() -> dict[str, Any]:
    """Package versions, CUDA, Python, platform, our version, git hash and the versions of
    the rules behind a case's numbers (``rules``: :func:`pytest_fgbmk.rule_versions.current`)."""
    return {
        "fgbmk": __version__,
        "rules": rule_versions.current(),
        "git": git_hash(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        **cuda_info(),
    }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- files ---------------------------------------------------------------------------------


def atomic_write_text(path: Path, text: str | Iterable[str]) -> None:
    """Write ``text`` (a string, or strings written one after another, never joined) to
    ``path`` through a temporary file in the same folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if isinstance(text, str):
                f.write(text)
            else:
                f.writelines(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(results: RunResults, folder: Path) -> Path:
    """Write ``folder/results.json`` (atomically); returns its path."""
    path = Path(folder) / RESULTS_NAME
    text = json.dumps(results.as_dict(), indent=1, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")
    return path


#: The encoder of samples.jsonl's lines: ``json.dumps(..., ensure_ascii=False)``'s own, made
#: once (``json.dumps`` builds a new encoder on every call with a non-default argument).
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False)


def sample_line(r: SampleRecord) -> str:
    """A record as its samples.jsonl line (with the newline); the one encoding of a line,
    ``json.dumps(r.as_dict(), ensure_ascii=False)``'s."""
    return _LINE_ENCODER.encode(r.as_dict()) + "\n"


def write_samples(records: Iterable[SampleRecord], path: Path) -> int:
    """Write samples.jsonl (atomically), a line at a time; returns the number of lines.

    Never the whole file as one string: at 1.06M questions that was two 546 MB copies
    (the lines and their join) at the run's peak RSS (bench_full_scale.py --scale 0.3)."""
    count = 0

    def lines() -> Iterator[str]:
        nonlocal count
        for r in records:
            count += 1
            yield sample_line(r)

    atomic_write_text(Path(path), lines())
    return count


def resolve_results(path: Path) -> Path:
    """A results.json path from a file or a folder holding one; clear error otherwise."""
    path = Path(path)
    if path.is_dir():
        inner = path / RESULTS_NAME
        if not inner.is_file():
            raise DataFormatError(
                path,
                f"folder has no {RESULTS_NAME}",
                hint="give a results.json written by pytest --fgbmk-report DIR, or its folder",
            )
        return inner
    if not path.is_file():
        raise DataFormatError(path, "no such file", hint="give a results.json or its folder")
    return path


def _first_line_is_json(path: Path) -> bool:
    """Whether ``path``'s first line alone is a JSON object (a JSON-lines file)."""
    with path.open(encoding="utf-8") as f:
        first = f.readline()
    try:
        return isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return False


def read_results(path: Path) -> RunResults:
    """Read and check a results.json; a wrong file raises DataFormatError naming it."""
    path = resolve_results(Path(path))
    beside = path.parent / RESULTS_NAME
    give = (
        f"give {shown_path(beside)}"
        if beside.is_file() and beside != path
        else "give the results.json that pytest --fgbmk-report DIR wrote"
    )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataFormatError(path, "not UTF-8 text, so not a results.json", hint=give) from None
    except json.JSONDecodeError as e:
        if e.msg == "Extra data" and _first_line_is_json(path):
            what = "a JSON-lines file (one object per line, like samples.jsonl), not a results.json"
            raise DataFormatError(path, what, hint=give) from None
        if path.suffix.lower() in (".html", ".htm"):
            raise DataFormatError(path, "an HTML report, not a results.json", hint=give) from None
        raise DataFormatError(path, f"not valid JSON: {e.msg}", line=e.lineno) from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise DataFormatError(
            path,
            f'not an FG-BMK results file (no "kind": "{KIND}")',
            hint="write one with pytest --fgbmk-report DIR",
        )
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise DataFormatError(
            path,
            f"schema_version {version!r} is not one this version reads (1..{SCHEMA_VERSION})",
            hint="upgrade pytest-fgbmk to read files written by a newer version",
        )
    try:
        run = RunInfo.from_dict(data.get("run") or {})
    except (TypeError, ValueError) as e:
        raise DataFormatError(path, f"run: {e}") from None
    cases = []
    for i, c in enumerate(data.get("cases") or []):
        if not isinstance(c, Mapping):
            raise DataFormatError(path, f"cases[{i}] is not an object")
        try:
            cases.append(CaseResult.from_dict(c, f"cases[{i}]"))
        except ValueError as e:
            raise DataFormatError(path, str(e)) from None
    return RunResults(run, tuple(cases), data.get("samples"))


def samples_path(results_path: Path, results: RunResults) -> Path | None:
    """Where the results' samples.jsonl is (None when the run wrote none)."""
    if not results.samples:
        return None
    p = Path(results_path)
    base = p.parent if p.is_file() or p.suffix == ".json" else p
    return base / results.samples


def read_samples(path: Path, keep: Callable[[str], bool] | None = None) -> Iterator[SampleRecord]:
    """Read samples.jsonl line by line; a bad line raises DataFormatError with its number.

    ``keep``: a test on the raw line; lines it rejects are skipped unparsed (and unchecked).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "no such file", hint="the run wrote no samples")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip() or (keep is not None and not keep(line)):
                continue
            try:
                yield SampleRecord.from_dict(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataFormatError(path, f"not valid JSON: {e.msg}", line=lineno) from None
            except (TypeError, ValueError, AttributeError) as e:
                raise DataFormatError(path, f"not a sample record: {e}", line=lineno) from None
