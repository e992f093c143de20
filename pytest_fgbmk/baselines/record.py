"""The stored form of a case's measurement: a small, diffable JSON record (no pytest).

Metric first, then n, interval, what was asked (the fingerprint), then the per-sample
outcomes, compact: question ids as 8-byte BLAKE2b digests and correctness as a bitset,
both base64, in sorted question-id order; per-query values (mAP) as a list of numbers.

Exact identity: the record holds the SHA-256 of the whole sorted id set, compared first
(a run with other questions is a fingerprint difference, never paired); within one case
no two ids may share a digest (checked when a record is written, read and paired, with an
error naming both ids), so pairing by digest pairs exactly the same questions. Format 1
stored 4-byte prefixes with no such check; such a baseline is refused with the command
that rewrites it (:class:`OldBaseline`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_fgbmk import rule_versions
from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.measurement import Measurement
from pytest_fgbmk.scoring import MODES as SCORING_MODES

FORMAT = 2
#: Bytes of each id's BLAKE2b digest (the full width of a generated question id).
ID_BYTES = 8
#: Decimals a per-query value (an AP, 0–1) is stored with; a run's values are compared at
#: the same precision (float noise below it is no change).
VALUE_DECIMALS = 6
#: Fingerprint keys compared with the baseline, in the order differences are reported.
ASKED_KEYS = (
    "dataset",
    "dataset_hash",
    "templates",
    "scoring",
    "limit",
    "seed",
    "exif_orientation",
    "model_settings",
)
#: Keys compared only when the baseline records them (a baseline older than the key asks
#: for a re-baseline instead: an older rule version, or :func:`tool_changes`'s
#: "before the model's settings were recorded").
RECENT_KEYS = frozenset({"exif_orientation", "model_settings"})
#: How a difference names each key (the rest by their own name).
LABELS = {
    "dataset_hash": "dataset index",
    "exif_orientation": "EXIF orientation",
    "model_settings": "model settings",
}


def ids_digest(question_ids: Sequence[str]) -> str:
    """SHA-256 of the sorted question ids (one per line)."""
    return hashlib.sha256("\n".join(sorted(question_ids)).encode()).hexdigest()


class OldBaseline(ValueError):
    """A baseline written by an older pytest-fgbmk, in a format this one does not compare."""


class NewerBaseline(ValueError):
    """A baseline written by a newer pytest-fgbmk, in a format this one cannot read (to be
    compared after upgrading, never rewritten by the older version)."""


def id_digest(qid: str) -> bytes:
    """The stored form of one question (or sample) id: its 8-byte BLAKE2b digest."""
    return hashlib.blake2b(qid.encode(), digest_size=ID_BYTES).digest()


def digests(question_ids: Sequence[str]) -> list[bytes]:
    """The ids' digests; :class:`ValueError` naming two ids that share one (never silently
    merged, so a baseline pairs exactly the questions it stored).

    The gate asks for one case's digests several times (the id check, pairing, the
    report's flips): the last few id lists' digests are kept (:func:`_digests`)."""
    return list(_digests(tuple(question_ids), ID_BYTES))


@functools.lru_cache(maxsize=4)
def _digests(question_ids: tuple[str, ...], size: int) -> tuple[bytes, ...]:
    """:func:`digests` of ``size``-byte digests (:data:`ID_BYTES`; a key of the cache)."""
    out = tuple(hashlib.blake2b(q.encode(), digest_size=size).digest() for q in question_ids)
    if len(set(out)) != len(out):
        seen: dict[bytes, str] = {}
        for q, d in zip(question_ids, out, strict=True):
            if d in seen and seen[d] != q:
                raise ValueError(
                    f"the ids {seen[d]!r} and {q!r} share a {ID_BYTES}-byte digest; "
                    "rename one of the samples"
                )
            seen[d] = q
        raise ValueError("an id occurs twice among the case's samples")
    return out


def encode_ids(question_ids: Sequence[str]) -> str:
    return base64.b64encode(b"".join(digests(question_ids))).decode()


def decode_ids(text: str) -> list[bytes]:
    raw = base64.b64decode(text.encode(), validate=True)
    if len(raw) % ID_BYTES:
        raise ValueError("question id list is truncated")
    out = [raw[i : i + ID_BYTES] for i in range(0, len(raw), ID_BYTES)]
    if len(set(out)) != len(out):
        raise ValueError("the stored question ids repeat a digest")
    return out


def encode_bits(bits: Sequence[bool]) -> str:
    return base64.b64encode(np.packbits(np.asarray(bits, dtype=bool)).tobytes()).decode()


def decode_bits(text: str, n: int) -> np.ndarray:
    raw = np.frombuffer(base64.b64decode(text.encode(), validate=True), dtype=np.uint8)
    if raw.size != (n + 7) // 8:
        raise ValueError(f"the bitset holds {raw.size * 8} bits, not {n}")
    return np.unpackbits(raw)[:n].astype(bool)


def per_query_values(m: Measurement) -> list[tuple[str, float]] | None:
    """Per-query values of a non-accuracy metric (``details["per_query"]``: (id, value))."""
    values = m.details.get("per_query") if m.details else None
    if values is None:
        return None
    return [(str(q), float(v)) for q, v in values]


def build_record(m: Measurement, model_fingerprint: str | None = None) -> dict[str, Any]:
    """The baseline record of a measurement (what ``--fgbmk-update-baselines`` writes)."""
    values = per_query_values(m)
    ids = [q for q, _ in values] if values is not None else list(m.question_ids)
    order = sorted(range(len(ids)), key=ids.__getitem__)
    sorted_ids = [ids[i] for i in order]
    if values is not None:
        outcomes: dict[str, Any] = {
            "encoding": "values",
            "ids": encode_ids(sorted_ids),
            "values": [round(values[i][1], VALUE_DECIMALS) for i in order],
        }
    else:
        correct = m.correct
        outcomes = {
            "encoding": "bitset-base64",
            "ids": encode_ids(sorted_ids),
            "correct": encode_bits([correct[i] for i in order]),
        }
    asked = m.asked.as_dict()
    version = asked.pop("version", "")
    return {
        "metric": m.metric,
        "value": round(m.value, 4),
        "n": len(ids),
        "interval": [round(m.low, 4), round(m.high, 4)],
        "case": m.case_id,
        "asked": {
            **asked,
            "question_ids": {"count": len(ids), "sha256": ids_digest(ids)},
        },
        "model": model_fingerprint,
        "version": version,
        "format": FORMAT,
        "outcomes": outcomes,
    }


#: What to do with a baseline file that cannot be read (the plugin's messages print the
#: command itself).
REWRITE_HINT = "restore it from version control, or rewrite it with --fgbmk-update-baselines"


def dump_record(record: Mapping[str, Any]) -> str:
    """JSON text: one key per line, the long outcome strings each on one line."""
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Stored:
    """A parsed baseline: its record and per-question outcomes keyed by id prefix."""

    path: Path
    record: Mapping[str, Any]
    outcomes: Mapping[bytes, float]

    @property
    def metric(self) -> str:
        return str(self.record["metric"])

    @property
    def value(self) -> float:
        return float(self.record["value"])


def parse_record(text: str, path: Path) -> Stored:
    """Parse a baseline file; a broken one raises :class:`DataFormatError` naming it."""
    hint = REWRITE_HINT
    if not text.strip():
        raise DataFormatError(path, f"empty ({len(text.encode())} bytes)", hint=hint)
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            path, f"not valid JSON: {exc.msg}", line=exc.lineno, hint=hint
        ) from None
    if isinstance(rec, dict) and isinstance(rec.get("format"), int) and rec["format"] < FORMAT:
        raise OldBaseline(
            f"baseline format {rec['format']} (4-byte question-id prefixes, no collision "
            f"check) was written by an older pytest-fgbmk; this version compares format {FORMAT}"
        )
    if isinstance(rec, dict) and isinstance(rec.get("format"), int) and rec["format"] > FORMAT:
        raise NewerBaseline(
            f"written by a newer pytest-fgbmk (baseline format {rec['format']}; this version "
            f"reads format {FORMAT})"
        )
    try:
        if not isinstance(rec, dict) or rec.get("format") != FORMAT:
            raise ValueError(f"not a format {FORMAT} FG-BMK baseline")
        for key in ("metric", "value", "n", "asked", "outcomes"):
            if key not in rec:
                raise ValueError(f"the key {key!r} is missing")
        _check_types(rec)
        n = rec["n"]
        out = rec["outcomes"]
        ids = decode_ids(out["ids"])
        if len(ids) != n:
            raise ValueError(f"{len(ids)} question ids for n={n}")
        if out["encoding"] == "values":
            vals = [float(v) for v in _typed(out, "values", list, "a list of numbers")]
            if len(vals) != n:
                raise ValueError(f"{len(vals)} values for n={n}")
        elif out["encoding"] == "bitset-base64":
            vals = decode_bits(_typed(out, "correct", str, "text"), n).astype(float).tolist()
        else:
            raise ValueError(f"unknown outcome encoding {out['encoding']!r}")
        _check_value(float(rec["value"]), vals, out["encoding"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise DataFormatError(path, f"not a valid baseline: {exc}", hint=hint) from None
    return Stored(path, rec, dict(zip(ids, vals, strict=True)))


def _check_value(value: float, outcomes: Sequence[float], encoding: str) -> None:
    """The stored value is what its outcomes give (the percentage right, or 100 × the mean
    per-query value), to the decimals both are stored with; :class:`ValueError` otherwise
    (an edited value or outcomes would gate a run against numbers that never were)."""
    if not outcomes:
        return
    mean = 100.0 * float(np.mean(outcomes))
    slack = 0.5e-4 + (100 * 0.5 * 10.0**-VALUE_DECIMALS if encoding == "values" else 0.0)
    if abs(mean - value) > slack + 1e-9:
        raise ValueError(
            f"'value' {value:g} is not what its outcomes give ({mean:.4f}): the value or the "
            "outcomes were edited"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _typed(parent: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """``parent[key]`` if it is a ``kind``, else :class:`ValueError` naming the key."""
    value = parent[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{key!r} must be {what}, got {json.dumps(value)}")
    return value


def _check_types(rec: Mapping[str, Any]) -> None:
    """Every value the gate reads has the type :func:`build_record` writes;
    :class:`ValueError` naming the first key that does not (``'value' must be a number,
    got "high"``)."""
    if not _is_number(rec["value"]):
        raise ValueError(f"'value' must be a number, got {json.dumps(rec['value'])}")
    _typed(rec, "metric", str, "text")
    if _typed(rec, "n", int, "a whole number") < 0:
        raise ValueError(f"'n' must not be negative, got {rec['n']}")
    if "interval" in rec:
        interval = rec["interval"]
        if not (
            isinstance(interval, list) and len(interval) == 2 and all(map(_is_number, interval))
        ):
            raise ValueError(f"'interval' must be two numbers, got {json.dumps(interval)}")
    asked = _typed(rec, "asked", dict, "an object")
    for key in (
        "dataset",
        "dataset_hash",
        "templates",
        "scoring",
        "rules",
        "content",
        "exif_orientation",
        "model_settings",
    ):
        if key in asked:
            _typed(asked, key, str, "text")
    if asked.get("limit") is not None:
        _typed(asked, "limit", int, "a whole number or null")
    if "seed" in asked:
        _typed(asked, "seed", int, "a whole number")
    if "question_ids" in asked:
        qids = _typed(asked, "question_ids", dict, "an object")
        _typed(qids, "sha256", str, "text")
        _typed(qids, "count", int, "a whole number")
    out = _typed(rec, "outcomes", dict, "an object")
    _typed(out, "encoding", str, "text")
    _typed(out, "ids", str, "text")
    if out["encoding"] == "values" and not all(map(_is_number, out.get("values", []))):
        raise ValueError("'values' must all be numbers")


def tool_changes(stored: Stored, m: Measurement) -> str | None:
    """Why this version of the tool cannot compare with the baseline, or None.

    The recorded rule versions differ (:mod:`pytest_fgbmk.rule_versions`), the baseline
    predates them, or the same question ids now carry other text, options or truths.
    """
    asked = stored.record.get("asked", {})
    if "rules" not in asked:
        written = stored.record.get("version") or "an older version"
        return (
            f"written by pytest-fgbmk {written}, before the rules that decide a case's numbers "
            "were recorded"
        )
    changed = rule_versions.changed(str(asked["rules"]), m.asked.rules)
    if changed:
        return "; ".join(changed)
    if "model_settings" not in asked and m.asked.model_settings:
        return (
            "written before the model's settings (dtype, image size, max_new_tokens, system "
            "prompt, model args such as fixed_new_tokens) were recorded"
        )
    before, now = asked.get("content", ""), m.asked.content
    if before != now and asked.get("question_ids", {}).get("sha256") == ids_digest(_ids(m)):
        return (
            "the same questions now read differently (wording, options, option order or "
            "truth) with no rule version changed"
        )
    return None


def _ids(m: Measurement) -> list[str]:
    values = per_query_values(m)
    return [q for q, _ in values] if values is not None else list(m.question_ids)


def differences(stored: Stored, m: Measurement, *, ids: bool = True) -> list[str]:
    """What differs between what the baseline asked and what this run asked (empty: same):
    the settings of :data:`ASKED_KEYS`, the metric, and (``ids``) the question-id set."""
    asked = stored.record.get("asked", {})
    now = m.asked.as_dict()
    out = []
    for key in ASKED_KEYS:
        if key in RECENT_KEYS and key not in asked:
            continue
        before, after = asked.get(key), now.get(key)
        if before != after:
            out.append(_changed(LABELS.get(key, key), before, after))
    if stored.metric != m.metric:
        out.append(f"metric: {stored.metric} → {m.metric}")
    if not ids:
        return out
    now_ids = _ids(m)
    digest = asked.get("question_ids", {}).get("sha256")
    if digest != ids_digest(now_ids):
        now_digests = {id_digest(q) for q in now_ids}
        missing = sum(1 for p in stored.outcomes if p not in now_digests)
        new = len(now_digests - stored.outcomes.keys())
        parts = []
        if missing:
            parts.append(f"{missing} question ids missing")
        if new:
            parts.append(f"{new} new question ids")
        out.append(", ".join(parts) or "question ids differ")
    return out


def _changed(label: str, before: Any, after: Any) -> str:
    """``label: before → after``; for a machine case's protocol (``a;k=v;…`` under
    ``scoring``) only the parts that differ, each whole: ``protocol: ep=10 → ep=20``."""
    if label == "model settings":
        old, new = _settings(before), _settings(after)
        keys = [k for k in [*new, *(k for k in old if k not in new)] if old.get(k) != new.get(k)]
        return f"{label}: " + "; ".join(
            f"{k}: {_show(old.get(k) or None)} → {_show(new.get(k) or None)}" for k in keys
        )
    if label == "scoring" and ";" in f"{before}{after}":
        old, new = str(before or "").split(";"), str(after or "").split(";")
        gone = [p for p in old if p not in new]
        added = [p for p in new if p not in old]
        # a human case's scoring mode with its judge (``strict;judge=…``), else a protocol
        kind = "scoring" if old[0] in SCORING_MODES and new[0] in SCORING_MODES else "protocol"
        return f"{kind}: {';'.join(gone) or 'none'} → {';'.join(added) or 'none'}"
    return f"{label}: {_show(before)} → {_show(after)}"


def _settings(text: Any) -> dict[str, str]:
    """``"dtype=bf16;max_new_tokens=32"`` as a mapping (None or empty: nothing)."""
    out = {}
    for part in filter(None, str(text or "").split(";")):
        key, _, value = part.partition("=")
        out[key] = value
    return out


def _show(value: Any) -> str:
    if value is None:
        return "none"
    text = str(value)
    return text[:12] + "…" if len(text) > 16 else text


def values_now(m: Measurement) -> np.ndarray:
    """A run's per-query values in its own order, at the precision a baseline stores them
    (so a value recomputed with float noise below ``1e-6`` pairs as unchanged)."""
    return np.round(np.array([v for _, v in m.details["per_query"]], dtype=float), VALUE_DECIMALS)


def unpaired_ids(stored: Stored, m: Measurement) -> str | None:
    """Why the baseline's outcome ids cannot be paired with this run's although its recorded
    id-set digest equals the run's (the outcomes were edited or damaged: one flipped byte in
    ``outcomes.ids``), or None when every one of the run's ids is there."""
    try:
        now = digests(_ids(m))
    except ValueError as exc:
        return f"its question ids do not pair ({exc})"
    absent = sum(1 for d in now if d not in stored.outcomes)
    if not absent:
        return None
    return (
        f"{absent} of its {len(stored.outcomes)} outcome ids match no question of this run, "
        "although the question-id digest it records matches them all (its outcomes were "
        "edited or damaged)"
    )


def paired_baseline(stored: Stored, m: Measurement) -> np.ndarray:
    """The baseline's outcome for each of this run's samples, in this run's order.

    Call it after :func:`differences` found the same id set; raises :class:`ValueError`
    naming two of this run's ids that share a digest, :class:`KeyError` for an id the
    baseline does not hold.
    """
    values = per_query_values(m)
    ids = [q for q, _ in values] if values is not None else list(m.question_ids)
    return np.array([stored.outcomes[d] for d in digests(ids)], dtype=float)
