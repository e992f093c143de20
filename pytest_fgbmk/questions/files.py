"""Question files: the FG-BMK release's JSONL, our own JSONL, and a VLMEvalKit-style TSV.

* Release JSONL (``question_id, image, text, class, category``): the release's own files and
  our ``--format release`` exports (both template sets). Task, dataset and level come from
  the path (``hierarchical_granularity_recognition/cub/species/species_question_choice.jsonl``,
  including the misspelt ``…_true_flase.jsonl``) or from the prompt's template; every field
  is type-checked with its file and line. ``class`` is the truth; ``category`` holds the
  image's class in some release files (:data:`CLASS_IN_CATEGORY`) and "generic" or the
  level elsewhere, so an imported question's ``category`` is the class from the file, its
  image folder, the question itself or another line about the same image.
* Our JSONL: every :class:`Question` field, one object per line, tagged with a format name.
* VLMEvalKit TSV: ``index, image_path, question, A…, answer, category``; multiple-choice
  answers are letters, true/false answers ``Yes``/``No``, short answers the name. Read back
  by rebuilding each prompt as our templates write it; it does not record the dataset or
  task (given on import).
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path, PurePosixPath

from pytest_fgbmk.data import cub, inat2021, stanford_dogs
from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.hashing import stable_hash
from pytest_fgbmk.questions.ids import question_id
from pytest_fgbmk.questions.records import QTYPES, TASKS, Question
from pytest_fgbmk.questions.templates import (
    EXTENDED,
    NOUNS,
    ORIGINAL,
    attribute_noun,
    format_options,
    level_of_which_word,
)
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
_LETTERED = re.compile(r"([A-Z])\. (.*)")
_LFS = b"version https://git-lfs.github.com/spec/"

#: What the release writes in ``category`` where it is not the image's class: "generic",
#: or the level's name (its iNat2021 files). Anything else there is the class.
_LEVEL_NAMES = frozenset(
    ("generic", "", "kingdom", "phylum", "class", "order", "family", "genus", "species")
    + ("category", "manufacturer", "variant", "make", "model", "year", "dish", "group")
)

#: The release's dataset folder names for our datasets' names (for :data:`CLASS_IN_CATEGORY`).
_RELEASE_NAMES = {
    "fgvc_aircraft": "aircraft",
    "stanford_cars": "stanfordcar",
    "stanfordcars": "stanfordcar",
    "cars": "stanfordcar",
}
#: The release's files that store the image's class in ``category`` (elsewhere it holds
#: "generic", or the level for iNat2021): (release dataset, task, question type), at the
#: finest level for hierarchical granularity. A recorded fact of the release: the species
#: true/false files of Aircraft, DeepFashion, MTARSI and Stanford Cars, and Aircraft's
#: knowledge-bias file.
CLASS_IN_CATEGORY = frozenset(
    {
        ("aircraft", GRANULARITY, "tf"),
        ("deepfashion", GRANULARITY, "tf"),
        ("mtarsi", GRANULARITY, "tf"),
        ("stanfordcar", GRANULARITY, "tf"),
        ("aircraft", KNOWLEDGE_BIAS, "tf"),
    }
)
#: The finest level's names: the release's ("species") and our loaders' for the datasets of
#: :data:`CLASS_IN_CATEGORY` (aircraft "variant", cars "year", DeepFashion "category").
_FINEST = frozenset(("species", "variant", "year", "category"))


@dataclass(frozen=True)
class _Template:
    """One template of a set as a regex over a whole prompt (``{noun}`` optionally fixed)."""

    qtype: str
    template_id: str
    text: str
    lettered: bool

    def regex(self, noun: str | None = None, level: str | None = None) -> re.Pattern[str]:
        return _template_regex(self.text, noun, level)

    @property
    def level_is_clear(self) -> bool:
        """Whether the prompt shows where ``{level}`` ends ("Is its {level} {name}?" does not:
        "wing color brown" splits two ways)."""
        return "{level}" in self.text and "{level} {name}" not in self.text


@lru_cache(maxsize=4096)
def _template_regex(text: str, noun: str | None, level: str | None) -> re.Pattern[str]:
    rx = re.escape(text)
    if noun is not None:
        rx = rx.replace(re.escape("{noun}"), re.escape(noun))
    if level is not None:
        rx = rx.replace(re.escape("{level}"), re.escape(level))
    for f, g in (("level", r".+?"), ("noun", r".+?"), ("name", r".+"), ("levels", r".+?")):
        rx = rx.replace(re.escape("{" + f + "}"), f"(?P<{f}>{g})", 1).replace(
            re.escape("{" + f + "}"), f"(?P={f})"
        )
    rx = rx.replace(re.escape("{options}"), r"(?P<options>.*)")
    return re.compile(rx + r"\Z", re.S)


#: Every template of both sets, the release's first (a prompt both could be is the release's).
_TEMPLATES = tuple(
    _Template(qtype, tset.template_id(qtype, i), t, tset.lettered and qtype == "mc")
    for tset in (ORIGINAL, EXTENDED)
    for qtype in QTYPES
    for i, t in enumerate(tset.for_type(qtype))
)


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


def _fixed_noun(dataset: str, task: str, level: str) -> str | None:
    """The noun our generator writes for a dataset's level when it does not depend on the
    sample (None for iNat below kingdom, where it is the sample's kingdom)."""
    if task == ATTRIBUTE:
        return attribute_noun(dataset, "")
    table = NOUNS.get(dataset)
    if table is None:
        return None
    noun = table.get(level, table["*"])
    return None if noun.startswith("{") else noun


def _match_template(
    text: str, qtype: str | None, dataset: str, task: str, levels: Sequence[str] = ()
) -> tuple[_Template, re.Match[str], str] | None:
    """(template, match, level) of the first template (of ``qtype`` when known) whose regex
    matches the whole prompt. Where a prompt splits several ways, a level of ``levels`` (the
    file's, longest first) and the noun the dataset fixes are preferred ("skin lesion" is
    the noun, not "skin"; "wing color" the level, not "wing")."""
    for t in _TEMPLATES:
        if qtype is not None and t.qtype != qtype:
            continue
        m, level = None, ""
        if "{level}" in t.text:
            for lv in sorted(levels, key=len, reverse=True):
                m, level = t.regex(level=lv).match(text), lv
                if m is not None:
                    break
        if m is None:
            m = t.regex().match(text)
            if m is None:
                continue
            groups = m.groupdict()
            level = groups.get("level") or level_of_which_word(dataset, groups.get("levels", ""))
        if "noun" in m.groupdict():
            noun = _fixed_noun(dataset, task, level)
            if noun is not None and noun != m.group("noun"):
                lv = level if "{level}" in t.text else None
                fixed = t.regex(noun, lv).match(text)
                if fixed is not None:
                    return t, fixed, level
        return t, m, level
    return None


def _file_levels(rows: Sequence[tuple[int, dict]], qtype: str | None, dataset: str, task: str):
    """The levels a file's prompts name where the template shows where the level ends."""
    got: set[str] = set()
    for _, row in rows:
        text = row.get("text")
        if isinstance(text, str):
            found = _match_template(text, qtype, dataset, task)
            if found is not None and found[0].level_is_clear:
                got.add(found[2])
    return tuple(sorted(got))


def _field(path: Path, lineno: int, row: dict, key: str, *, empty: bool = False) -> str:
    """A release line's string field; a wrong JSON type or an empty text is an error."""
    value = row[key]
    if not isinstance(value, str):
        kind = "null" if value is None else f"{type(value).__name__} {json.dumps(value)}"
        raise DataFormatError(
            path,
            f"field {key!r} must be a string, got {kind}",
            line=lineno,
            hint="release lines hold question_id, image, text, class and category as strings",
        )
    if not empty and not value.strip():
        raise DataFormatError(path, f"field {key!r} is empty", line=lineno)
    return value


def _question_id(path: Path, lineno: int, row: dict) -> str:
    value = row["question_id"]
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        kind = "null" if value is None else f"{type(value).__name__} {json.dumps(value)}"
        raise DataFormatError(
            path, f"field 'question_id' must be a number or a string, got {kind}", line=lineno
        )
    return str(value)


def _options(path: Path, lineno: int, text: str, m: re.Match[str] | None, lettered: bool):
    """A multiple-choice prompt's options: quoted (the release) or lettered lines (ours)."""
    if lettered and m is not None:
        lines = m.group("options").split("\n")
        got = [_LETTERED.fullmatch(x) for x in lines]
        if all(got) and [g.group(1) for g in got] == [chr(65 + i) for i in range(len(got))]:
            return tuple(g.group(2) for g in got)
        raise DataFormatError(
            path, "lettered options must be lines 'A. …', 'B. …' in order", line=lineno
        )
    found = _OPTION_LIST.search(text)
    options = tuple(_QUOTED.findall(found.group(1))) if found else ()
    if not options:
        raise DataFormatError(
            path,
            "a multiple-choice prompt without a quoted option list",
            line=lineno,
            hint='options are written: Choose one answer from the following list: "a", "b".',
        )
    return options


def _check_truth(path: Path, lineno: int, qtype: str, truth: str, options: Sequence[str]) -> None:
    """A truth that can be scored right: yes/no for true/false, one of the options for MC."""
    if qtype == "tf" and truth not in ("yes", "no"):
        raise DataFormatError(
            path,
            f"a true/false question's truth must be 'yes' or 'no', got {truth!r}",
            line=lineno,
            hint="no answer could ever be scored right against it",
        )
    if qtype == "mc" and truth not in options:
        listed = ", ".join(map(repr, options))
        raise DataFormatError(
            path,
            f"the multiple-choice truth {truth!r} is not one of its options ({listed})",
            line=lineno,
            hint="the truth must be one option's text exactly",
        )


def _folder_class(dataset: str, image: str) -> str | None:
    """The class a dataset's image folder names, where the release's folders name it (CUB
    ``001.Black_footed_Albatross``, Stanford Dogs ``n02085620-Chihuahua``, iNat2021
    ``09506_…_Ulmus_rubra``), as our loader names it; None elsewhere."""
    return _named_by_folder(dataset, PurePosixPath(image).parent.name)


@lru_cache(maxsize=65536)
def _named_by_folder(dataset: str, folder: str) -> str | None:
    if dataset in ("cub", "cub200") and _CUB_FOLDER.match(folder):
        return cub.species_name(folder)
    if dataset in ("stanforddog", "stanforddogs", "stanford_dogs", "dogs") and _DOG_FOLDER.match(
        folder
    ):
        return stanford_dogs.breed_name(folder)
    if dataset == "inat2021":
        taxonomy = inat2021.folder_taxonomy(folder)
        return taxonomy[-1] if taxonomy else None
    return None


_CUB_FOLDER = re.compile(r"\d+\.\S")
_DOG_FOLDER = re.compile(r"n\d+-\S")


def _plain(text: str) -> str:
    """Lower-cased, underscores as spaces, spaces collapsed ("Wing_Color" → "wing color")."""
    return " ".join(text.replace("_", " ").lower().split())


def _own_class(q: Question) -> str | None:
    """The class a question states itself: the truth of a finest-level choice or short
    answer, the asked name of a finest-level (or knowledge-bias) true/false 'yes'."""
    finest = q.task == KNOWLEDGE_BIAS or (q.task == GRANULARITY and q.facet in _FINEST)
    if not finest:
        return None
    if q.qtype in ("mc", "sa"):
        return q.truth
    return q.asked if q.truth == "yes" and q.asked else None


#: Sets a :class:`Question`'s slot past the frozen ``__setattr__`` (as ``generate.py`` does).
_set_category = Question.category.__set__  # type: ignore[attr-defined]


def _with_classes(questions: Sequence[Question], stored: Sequence[bool]) -> list[Question]:
    """Each question's ``category`` set to its image's class: kept where the file stored it,
    else named by the image's folder, stated by the question itself, or stated by another
    question about the same image; empty when nothing names it."""
    known: dict[tuple[str, str], str] = {}
    for q, kept in zip(questions, stored, strict=True):
        got = q.category if kept else _own_class(q)
        if got:
            known.setdefault((q.dataset, q.image), got)
    out = []
    for q, kept in zip(questions, stored, strict=True):
        if not kept:
            got = (
                _folder_class(q.dataset, q.image)
                or _own_class(q)
                or known.get((q.dataset, q.image), "")
            )
            _set_category(q, got)  # q is new, built by this import and seen nowhere else
        out.append(q)
    return out


def read_release(
    path: str | Path, *, dataset: str | None = None, task: str | None = None
) -> tuple[Question, ...]:
    """Questions from one release JSONL file (see :func:`read_release_files`)."""
    return read_release_files([path], dataset=dataset, task=task)


def read_release_files(
    paths: Iterable[str | Path], *, dataset: str | None = None, task: str | None = None
) -> tuple[Question, ...]:
    """Questions from release JSONL files: the release's own, and our ``--format release``
    exports (both template sets).

    Task, dataset and level come from each file's path
    (``hierarchical_granularity_recognition/cub/species/species_question_choice.jsonl``,
    including the misspelt ``…_true_flase.jsonl``) or, failing that, from the prompt's
    template (``dataset`` and ``task`` override; the task defaults to granularity). A
    prompt of a known template gets the id our generator gives that question. ``category``
    is the image's class (see :func:`_with_classes`).

    Raises :class:`DataFormatError` naming the file and line for a line that is not a JSON
    object of the five string fields, a true/false truth other than yes/no, a
    multiple-choice truth that is not an option, a file that is not UTF-8 or is a Git LFS
    pointer.
    """
    return _release_questions([(Path(p), None) for p in paths], dataset, task)


def _release_questions(
    sources: Sequence[tuple[Path, list[tuple[int, dict]] | None]],
    dataset: str | None,
    task: str | None,
) -> tuple[Question, ...]:
    questions: list[Question] = []
    stored: list[bool] = []
    for path, rows in sources:
        for q, kept in _read_release_file(path, dataset, task, rows):
            questions.append(q)
            stored.append(kept)
    return tuple(_with_classes(questions, stored))


def read_vlmevalkit(
    path: str | Path,
    *,
    dataset: str | None = None,
    task: str | None = None,
    image_root: str | Path | None = None,
) -> tuple[Question, ...]:
    """Questions from our VLMEvalKit TSV export (``index, image_path, question, A…, answer,
    category``).

    Each row's prompt is rebuilt as our templates write it (the TSV holds a multiple-choice
    question without its option list), its truth from the answer (a letter, ``Yes``/``No``,
    or the name) and the class from ``category``; then it is read as a release line (see
    :func:`read_release_files`: ``dataset``, default the file's folder name, and ``task``,
    default granularity, are not in the TSV). Image paths under ``image_root`` (the
    ``--data`` of the export) are made relative to it.

    Raises :class:`DataFormatError` naming the file and line for a wrong header, a row of
    the wrong width, an answer letter without an option, or anything a release line may not
    hold.
    """
    path = Path(path)
    return _release_questions([(path, _tsv_rows(path, image_root))], dataset, task)


def _tsv_rows(path: Path, image_root: str | Path | None) -> list[tuple[int, dict]]:
    """A VLMEvalKit TSV's rows as release lines (line number, five fields)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataFormatError(path, f"cannot read the file: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataFormatError(
            path,
            f"not UTF-8 (byte 0x{data[e.start]:02x})",
            line=data[: e.start].count(b"\n") + 1,
            hint="save the file as UTF-8, e.g. iconv -f latin1 -t utf-8",
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    header = next(reader, [])
    letters = header[3:-2]
    ok = header[:3] == ["index", "image_path", "question"] and header[-2:] == ["answer", "category"]
    if not ok or letters != [chr(65 + i) for i in range(len(letters))]:
        raise DataFormatError(
            path,
            "not a VLMEvalKit TSV header (index, image_path, question, A, B, …, answer, category)",
            line=1,
        )
    root = PurePosixPath(Path(image_root).as_posix()) if image_root is not None else None
    out: list[tuple[int, dict]] = []
    #: (row, its prompt by whether the options are lettered) for each MC row
    pending: list[tuple[dict, dict[bool, str]]] = []
    for row in reader:
        lineno = reader.line_num
        if not row:
            continue
        if len(row) != len(header):
            raise DataFormatError(
                path, f"{len(row)} columns where the header has {len(header)}", line=lineno
            )
        index, image, question, *opts, answer, category = row
        options = [o for o in opts if o]
        if root is not None and PurePosixPath(image).is_relative_to(root):
            image = PurePosixPath(image).relative_to(root).as_posix()
        if options:
            at = ord(answer) - 65 if len(answer) == 1 else -1
            if not 0 <= at < len(options):
                raise DataFormatError(
                    path,
                    f"answer {answer!r} is not the letter of an option (A–{chr(64 + len(options))})",
                    line=lineno,
                )
            truth, prompt = options[at], question
        elif answer in ("Yes", "No") and question.endswith("Answer with yes or no."):
            truth, prompt = answer.lower(), question
        else:
            truth, prompt = answer, question
        fields_ = {"image": image, "text": prompt, "class": truth, "category": category}
        out.append((lineno, {"question_id": index, **fields_}))
        if options:
            out[-1][1]["options"] = options
            pending.append((out[-1][1], _full_mc_prompts(question, options)))
    # An MC stem both sets share ("What is the {level} of the {noun} in this image?") takes
    # the set the file's other MC rows show (an export uses one); else the release's.
    shown = {next(iter(p)) for _, p in pending if len(p) == 1}
    lettered = shown.pop() if len(shown) == 1 else False
    for row, prompts in pending:
        quoted = format_options(row["options"], False)
        plain = row["text"] + _ORIGINAL_MC_TAIL.replace("{options}", quoted)  # no template's
        row["text"] = prompts.get(lettered) or next(iter(prompts.values()), plain)
        del row["options"]
    return out


def _full_mc_prompts(stem: str, options: Sequence[str]) -> dict[bool, str]:
    """The multiple-choice prompts our templates could have written around a TSV's question,
    by whether the options are lettered: the release's quoted list, our lettered lines."""
    out = {}
    for lettered, suffix in ((False, _ORIGINAL_MC_TAIL), (True, _EXTENDED_MC_TAIL)):
        prompt = stem + suffix.replace("{options}", format_options(options, lettered))
        if _match_template(prompt, "mc", "", "") is not None:
            out[lettered] = prompt
    return out


#: What follows a multiple-choice question's stem in each template set (see templates.py).
_ORIGINAL_MC_TAIL = ORIGINAL.mc[0][ORIGINAL.mc[0].index(" Choose one answer") :]
_EXTENDED_MC_TAIL = EXTENDED.mc[0][EXTENDED.mc[0].index("\n{options}") :]


class GuessedContext(UserWarning):
    """A release file's task or dataset taken from a default, not from its path or options
    (``fgbmk questions import`` prints it as one line)."""


def _read_release_file(
    path: Path,
    dataset: str | None,
    task: str | None,
    rows: list[tuple[int, dict]] | None = None,
) -> list[tuple[Question, bool]]:
    """(question, whether ``category`` came from the file) per line; ``rows`` given: lines
    converted from a VLMEvalKit TSV, whose ``category`` is always the class (or empty)."""
    from_tsv = rows is not None
    p_task, p_dataset, p_level = _path_context(path)
    guessed = []
    if not (task or p_task):
        guessed.append(f"task {GRANULARITY} (give --task)")
    task = task or p_task or GRANULARITY
    if task not in TASKS:
        raise DataFormatError(path, f"unknown task {task!r}", hint=f"use one of {', '.join(TASKS)}")
    if not (dataset or p_dataset):
        guessed.append(f"dataset {path.parent.name or 'release'!r} (give --dataset)")
    dataset = dataset or p_dataset or path.parent.name or "release"
    if guessed:
        warnings.warn(
            GuessedContext(
                f"{path}: its path names no {' or '.join(g.split()[0] for g in guessed)}; "
                f"assumed {' and '.join(guessed)}: question ids depend on both, so they match "
                "an export's only when these are right"
            ),
            stacklevel=2,
        )
    ds_key = dataset.lower()
    file_qtype = _qtype_from_name(path.stem)
    # the release names its hierarchical files "<level>_question_<type>.jsonl"
    named = task == GRANULARITY and "_question" in path.stem
    file_level = path.stem.split("_question")[0] if named else None
    out: list[tuple[Question, bool]] = []
    ids: set[str] = set()
    if rows is None:
        rows = list(_read_json_lines(path))
    levels = (p_level or file_level,) if p_level or file_level else ()
    levels = levels or _file_levels(rows, file_qtype, ds_key, task)
    for lineno, row in rows:
        missing = [k for k in RELEASE_KEYS if k not in row]
        if missing:
            raise DataFormatError(
                path,
                f"missing field(s) {', '.join(missing)}",
                line=lineno,
                hint="release lines hold question_id, image, text, class and category",
            )
        sample_id = _question_id(path, lineno, row)
        image, text = _field(path, lineno, row, "image"), _field(path, lineno, row, "text")
        truth = _field(path, lineno, row, "class")
        category = _field(path, lineno, row, "category", empty=True)
        qtype, tid, asked, facet, lettered = file_qtype, "release", "", p_level or file_level, False
        found = _match_template(text, qtype, ds_key, task, levels)
        m = None
        if found is not None:
            template, m, level = found
            qtype, tid, lettered = template.qtype, template.template_id, template.lettered
            asked = m.groupdict().get("name") or ""
            facet = facet or level
        if qtype is None:
            qtype = _guess_qtype(text, truth)
        options = _options(path, lineno, text, m, lettered) if qtype == "mc" else ()
        _check_truth(path, lineno, qtype, truth, options)
        kept = _plain(category) not in _LEVEL_NAMES and _plain(category) != _plain(facet or "")
        kept = bool(category) if from_tsv else kept
        facet = facet or ("category" if task == KNOWLEDGE_BIAS else category or "category")
        qid = question_id(ds_key, image, task, facet, qtype, truth, asked, tid)
        if tid == "release" or qid in ids:
            qid = stable_hash(ds_key, image, task, facet, qtype, truth, text, row["question_id"])
        ids.add(qid)
        q = Question(
            id=qid,
            dataset=ds_key,
            image=image,
            prompt=text,
            qtype=qtype,
            task=task,
            facet=facet,
            category=category if kept else "",
            truth=truth,
            template_id=tid,
            options=options,
            lettered=lettered,
            asked=asked,
            sample_id=sample_id,
        )
        out.append((q, kept))
    return out


def _guess_qtype(text: str, truth: str) -> str:
    if truth.strip().lower() in ("yes", "no") and "yes or no" in text.lower():
        return "tf"
    if "following list:" in text:
        return "mc"
    return "sa"


def release_category(q: Question) -> str:
    """The release's ``category`` field: the class where the release stores it
    (:data:`CLASS_IN_CATEGORY`), the level for iNat2021, ``generic`` elsewhere."""
    ds = _RELEASE_NAMES.get(q.dataset.lower(), q.dataset.lower())
    finest = q.task != GRANULARITY or q.facet in _FINEST
    if (ds, q.task, q.qtype) in CLASS_IN_CATEGORY and finest and q.category:
        return q.category
    if q.task == GRANULARITY and ds == "inat2021":
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
        _check_truth(path, lineno, kw["qtype"], kw["truth"], kw.get("options", ()))
        out.append(Question(**kw))
    return tuple(out)


def read_questions(path: str | Path) -> tuple[Question, ...]:
    """Our JSONL or a release JSONL, told apart by the first line."""
    return read_question_files([path])


def read_question_files(
    paths: Sequence[str | Path],
    *,
    dataset: str | None = None,
    task: str | None = None,
    image_root: str | Path | None = None,
) -> tuple[Question, ...]:
    """Questions from files in our JSONL format, release JSONL files and VLMEvalKit TSVs
    (all three of our exports included), each told apart by its first line; release files
    and TSVs are read together (:func:`read_release_files`, :func:`read_vlmevalkit`), so one
    file's lines can name another's classes. ``dataset`` and ``task`` apply to the release
    files and TSVs, ``image_root`` to the TSVs."""
    ours: list[Question] = []
    release: list[tuple[Path, list[tuple[int, dict]] | None]] = []
    for p in map(Path, paths):
        if _is_tsv(p):
            release.append((p, _tsv_rows(p, image_root)))
            continue
        first = next(iter(_read_json_lines(p)), None)
        if first is not None and "format" in first[1]:
            ours.extend(read_jsonl(p))
        elif first is not None:
            release.append((p, None))
    return (*ours, *_release_questions(release, dataset, task))


def _is_tsv(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(_TSV_HEAD)) == _TSV_HEAD
    except OSError:
        return False


_TSV_HEAD = b"index\timage_path\tquestion\t"


def _read_json_lines(path: Path):
    """(line number, object) for each non-blank line of a JSONL file.

    Raises :class:`DataFormatError` naming the file (and line) for a file that cannot be
    read, a Git LFS pointer, a VLMEvalKit TSV, a line that is not UTF-8, not JSON or not
    an object.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below; open errors reported)
    except OSError as e:
        raise DataFormatError(path, f"cannot read the file: {e.strerror}") from None
    with f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
                if raw.startswith(_LFS):
                    raise DataFormatError(
                        path,
                        "this is a Git LFS pointer, not the file's content",
                        hint="run git lfs pull in its repository, then import again",
                    )
                if raw.startswith(_TSV_HEAD):
                    raise DataFormatError(
                        path,
                        "this is a VLMEvalKit TSV, not JSONL",
                        hint="read it with read_vlmevalkit or 'fgbmk questions import'",
                    )
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataFormatError(
                    path,
                    f"not UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})",
                    line=lineno,
                    hint="save the file as UTF-8, e.g. iconv -f latin1 -t utf-8",
                ) from None
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
