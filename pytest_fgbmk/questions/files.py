"""Question files: the FG-BMK release's JSONL, our own JSONL, and a VLMEvalKit-style TSV.

* Release JSONL (``question_id, image, text, class, category``): read from the release's
  own files — task, dataset, level and question type come from the path
  (``hierarchical_granularity_recognition/cub/species/species_question_choice.jsonl``,
  including the misspelt ``…_true_flase.jsonl``) or, failing that, from the prompt. The
  release does not record an image's class, so ``category`` is the image's folder name.
* Our JSONL: every :class:`Question` field, one object per line, tagged with a format name.
* VLMEvalKit TSV: ``index, image_path, question, A…, answer, category``; multiple-choice
  answers are letters, true/false answers ``Yes``/``No``, short answers the name.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, fields
from pathlib import Path, PurePosixPath

from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.hashing import stable_hash
from pytest_fgbmk.questions.records import QTYPES, TASKS, Question
from pytest_fgbmk.questions.templates import ORIGINAL, format_options
from pytest_fgbmk.task_names import ATTRIBUTE, GRANULARITY, KNOWLEDGE_BIAS

#: The format tag of our JSONL lines.
FORMAT = "fgbmk-question/1"
RELEASE_KEYS = ("question_id", "image", "text", "class", "category")
_TASK_DIRS = {
    "hierarchical_granularity_recognition": GRANULARITY,
    "knowledge_bias_estimination": KNOWLEDGE_BIAS,
    "knowledge_bias_estimation": KNOWLEDGE_BIAS,
    "attribute_recognition": ATTRIBUTE,
}
_OPTION_LIST = re.compile(r"following list:\s*(.*?)\.\s*Answer the question", re.S)
_QUOTED = re.compile(r'"([^"]*)"')


def _template_patterns() -> list[tuple[str, str, re.Pattern[str]]]:
    out = []
    for qtype in QTYPES:
        for i, t in enumerate(ORIGINAL.for_type(qtype)):
            rx = re.escape(t)
            for f, g in (
                ("level", r"(?P<level>.+?)"),
                ("noun", r"(?P<noun>.+?)"),
                ("name", r"(?P<name>.+)"),
            ):
                rx = rx.replace(re.escape("{" + f + "}"), g, 1).replace(
                    re.escape("{" + f + "}"), f"(?P={f})"
                )
            rx = rx.replace(re.escape("{levels}"), r".+?").replace(re.escape("{options}"), r".*")
            out.append((qtype, ORIGINAL.template_id(qtype, i), re.compile(rx + r"\Z", re.S)))
    return out


_PATTERNS = _template_patterns()


def _qtype_from_name(stem: str) -> str | None:
    s = stem.lower()
    if "true_false" in s or "true_flase" in s:
        return "tf"
    if "choice" in s:
        return "mc"
    if "short_answer" in s:
        return "sa"
    return None


def _path_context(path: Path) -> tuple[str | None, str | None, str | None]:
    """(task, dataset, level) read from a release path, each None when the path lacks it."""
    parts = path.parts
    for i, p in enumerate(parts):
        task = _TASK_DIRS.get(p)
        if task is None:
            continue
        dataset = parts[i + 1] if i + 2 < len(parts) else None
        level = parts[i + 2] if task == GRANULARITY and i + 3 < len(parts) else None
        return task, dataset, level
    return None, None, None


def read_release(
    path: str | Path, *, dataset: str | None = None, task: str | None = None
) -> tuple[Question, ...]:
    """Questions from one release JSONL file (task, dataset and level taken from its path)."""
    path = Path(path)
    p_task, p_dataset, p_level = _path_context(path)
    task = task or p_task or GRANULARITY
    if task not in TASKS:
        raise DataFormatError(path, f"unknown task {task!r}", hint=f"use one of {', '.join(TASKS)}")
    dataset = dataset or p_dataset or path.parent.name or "release"
    ds_key = dataset.lower()
    file_qtype = _qtype_from_name(path.stem)
    file_level = path.stem.split("_question")[0] if "_question" in path.stem else None
    out: list[Question] = []
    for lineno, row in _read_json_lines(path):
        missing = [k for k in RELEASE_KEYS if k not in row]
        if missing:
            raise DataFormatError(
                path,
                f"missing field(s) {', '.join(missing)}",
                line=lineno,
                hint="release lines hold question_id, image, text, class and category",
            )
        text, truth, image = str(row["text"]), str(row["class"]), str(row["image"])
        qtype, tid, asked, facet = file_qtype, "release", "", p_level or file_level
        for q_type, t_id, rx in _PATTERNS:
            m = rx.match(text)
            if m and (qtype is None or q_type == qtype):
                qtype, tid = q_type, t_id
                asked = m.groupdict().get("name") or ""
                facet = facet or m.group("level")
                break
        if qtype is None:
            qtype = _guess_qtype(text, truth)
        options: tuple[str, ...] = ()
        if qtype == "mc":
            m = _OPTION_LIST.search(text)
            options = tuple(_QUOTED.findall(m.group(1))) if m else ()
            if not options:
                raise DataFormatError(
                    path,
                    "a multiple-choice prompt without a quoted option list",
                    line=lineno,
                    hint='options are written: Choose one answer from the following list: "a", "b".',
                )
        facet = facet or ("category" if task == KNOWLEDGE_BIAS else str(row["category"]))
        qid = stable_hash(ds_key, image, task, facet, qtype, truth, text, row["question_id"])
        out.append(
            Question(
                id=qid,
                dataset=ds_key,
                image=image,
                prompt=text,
                qtype=qtype,
                task=task,
                facet=facet,
                category=PurePosixPath(image).parent.name,
                truth=truth,
                template_id=tid,
                options=options,
                lettered=False,
                asked=asked,
                sample_id=str(row["question_id"]),
            )
        )
    return tuple(out)


def _guess_qtype(text: str, truth: str) -> str:
    if truth.strip().lower() in ("yes", "no") and "yes or no" in text.lower():
        return "tf"
    if "following list:" in text:
        return "mc"
    return "sa"


def release_category(q: Question) -> str:
    """The release's ``category`` field: the level for iNat2021, ``generic`` elsewhere."""
    if q.task == GRANULARITY and q.dataset.lower() == "inat2021":
        return q.facet
    return "generic"


def write_release(questions: Iterable[Question], path: str | Path) -> int:
    """Write questions as release JSONL (ids renumbered from 1); returns the count."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for n, q in enumerate(questions, 1):
            row = {
                "question_id": n,
                "image": q.image,
                "text": q.prompt,
                "class": q.truth,
                "category": release_category(q),
            }
            f.write(json.dumps(row) + "\n")
    return n


def write_jsonl(questions: Iterable[Question], path: str | Path) -> int:
    """Write questions in our JSONL format (every field); returns the count."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps({"format": FORMAT, **asdict(q)}, ensure_ascii=False) + "\n")
            n += 1
    return n


_FIELDS = {f.name: f for f in fields(Question)}
_TUPLES = ("options", "accepted")
_NESTED = ("option_synonyms",)


def _option_synonyms(path: Path, lineno: int, kw: dict) -> tuple[tuple[str, ...], ...]:
    """``option_synonyms`` of a JSONL line: empty, or one list of strings per option."""
    value = kw["option_synonyms"]
    ok = isinstance(value, list) and all(
        isinstance(x, list) and all(isinstance(s, str) for s in x) for x in value
    )
    if not ok or (value and len(value) != len(kw.get("options", ()))):
        raise DataFormatError(
            path,
            "field 'option_synonyms' must be empty or one list of strings per option",
            line=lineno,
        )
    return tuple(tuple(x) for x in value)


def read_jsonl(path: str | Path) -> tuple[Question, ...]:
    """Questions from our JSONL format; a bad line is an error naming the file and line."""
    path = Path(path)
    out = []
    for lineno, row in _read_json_lines(path):
        if row.get("format") != FORMAT:
            raise DataFormatError(
                path,
                f"not a {FORMAT} line (format {row.get('format')!r})",
                line=lineno,
                hint="release files are read with 'fgbmk questions import'",
            )
        kw = {k: v for k, v in row.items() if k != "format"}
        unknown = sorted(set(kw) - set(_FIELDS))
        required = [n for n, f in _FIELDS.items() if f.default is f.default_factory and n not in kw]
        if unknown or required:
            what = (
                f"unknown field(s) {', '.join(unknown)}"
                if unknown
                else f"missing {', '.join(required)}"
            )
            raise DataFormatError(path, what, line=lineno)
        for k in _TUPLES:
            if k in kw:
                if not isinstance(kw[k], list) or not all(isinstance(x, str) for x in kw[k]):
                    raise DataFormatError(
                        path, f"field {k!r} must be a list of strings", line=lineno
                    )
                kw[k] = tuple(kw[k])
        if "option_synonyms" in kw:
            kw["option_synonyms"] = _option_synonyms(path, lineno, kw)
        for k, v in kw.items():
            if k in _NESTED:
                continue
            if k not in _TUPLES and not isinstance(v, bool if k == "lettered" else str):
                raise DataFormatError(
                    path, f"field {k!r} has the wrong type ({type(v).__name__})", line=lineno
                )
        if kw["qtype"] not in QTYPES or kw["task"] not in TASKS:
            raise DataFormatError(
                path, f"unknown qtype {kw['qtype']!r} or task {kw['task']!r}", line=lineno
            )
        out.append(Question(**kw))
    return tuple(out)


def read_questions(path: str | Path) -> tuple[Question, ...]:
    """Our JSONL or a release JSONL, told apart by the first line."""
    path = Path(path)
    for _, row in _read_json_lines(path):
        return read_jsonl(path) if "format" in row else read_release(path)
    return ()


def _read_json_lines(path: Path):
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 (closed below; open errors reported)
    except OSError as e:
        raise DataFormatError(path, f"cannot read the file: {e.strerror}") from None
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFormatError(path, f"not valid JSON: {e.msg}", line=lineno) from None
            if not isinstance(row, dict):
                raise DataFormatError(path, "each line must be a JSON object", line=lineno)
            yield lineno, row


def _stem(q: Question) -> str:
    """A multiple-choice prompt without its option list (VLMEvalKit adds the options)."""
    opts = format_options(q.options, q.lettered)
    cut = q.prompt.find(opts) if opts else -1
    if cut < 0:
        return q.prompt
    stem = q.prompt[:cut].rstrip()
    for tail in ("Choose one answer from the following list:",):
        if stem.endswith(tail):
            stem = stem[: -len(tail)].rstrip()
    return stem


def write_vlmevalkit(
    questions: Sequence[Question], path: str | Path, *, root: str | Path | None = None
) -> int:
    """Write a VLMEvalKit-style TSV; image paths are joined to ``root`` when given."""
    width = max((len(q.options) for q in questions), default=0)
    letters = [chr(65 + i) for i in range(max(width, 4))]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["index", "image_path", "question", *letters, "answer", "category"])
        for i, q in enumerate(questions):
            image = str(Path(root) / q.image) if root is not None else q.image
            opts = list(q.options) + [""] * (len(letters) - len(q.options))
            if q.qtype == "mc":
                answer, question = letters[q.options.index(q.truth)], _stem(q)
            elif q.qtype == "tf":
                answer, question = q.truth.capitalize(), q.prompt
            else:
                answer, question = q.truth, q.prompt
            w.writerow([i, image, question, *opts, answer, q.category])
    return len(questions)
