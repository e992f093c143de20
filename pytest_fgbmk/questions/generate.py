"""Question generators: attribute recognition, knowledge bias and hierarchical granularity.

Each generator is deterministic from its seed and independent of the order of the dataset's
samples (it works on the samples sorted by id). True/false sets are exactly balanced: half
the questions ask about the image's own name or value (truth ``"yes"``), half about another
(``"no"``); when the number of images is odd one image gets both. Negatives and
multiple-choice distractors are drawn siblings first (same parent at that level), then from
the nearest ancestor with enough children, then — for a level where the dataset holds too
few names — from :data:`templates.BUILTIN_SIBLINGS`. A candidate is never the truth after
normalisation and never holds the truth as whole words, nor the other way round.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_fgbmk.data.records import CERTAINTY_PROBABLY, Dataset, Sample
from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.questions.ids import question_id
from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.questions.templates import (
    BUILTIN_SIBLINGS,
    LEVEL_PLURALS,
    TemplateSet,
    attribute_noun,
    format_options,
    noun_for,
)
from pytest_fgbmk.questions.text import clashes, normalize

#: Options per multiple-choice question (truth + 3 distractors).
MC_OPTIONS = 4


def level_word(facet: str) -> str:
    """A level or attribute group as the prompt writes it ("wing_color" → "wing color")."""
    return facet.replace("_", " ").strip()


def dataset_levels(dataset: Dataset) -> tuple[str, ...]:
    """The dataset's taxonomy levels (``("category",)`` when it declares none)."""
    return dataset.levels or ("category",)


def sample_path(dataset: Dataset, sample: Sample) -> tuple[str, ...]:
    """A sample's taxonomy path, coarse → fine, one name per level."""
    n = len(dataset_levels(dataset))
    if len(sample.taxonomy) == n:
        return sample.taxonomy
    if 0 <= sample.category < len(dataset.categories):
        tax = dataset.categories[sample.category].taxonomy
        if len(tax) == n:
            return tax
    return (sample.category_name,) if n == 1 else ("",) * (n - 1) + (sample.category_name,)


def _sorted_samples(samples: Sequence[Sample]) -> list[Sample]:
    return sorted(samples, key=lambda s: (s.id, s.path))


def _match_case(name: str, like: str) -> str:
    return name[:1].upper() + name[1:] if like[:1].isupper() else name


def _padded(name: str) -> str:
    return f" {normalize(name)} "


def _clash(pa: str, pb: str) -> bool:
    """Clash test on padded normalised names (" dress " is in " wrap dress ", not " sundress ")."""
    return pa in pb or pb in pa


#: Pools up to this size are filtered in full; larger ones are sampled with rejection.
_SMALL_POOL = 48


@dataclass
class LevelPools:
    """Candidate names at one taxonomy level, grouped by ancestor, for drawing distractors."""

    level: int
    #: (depth, ancestor prefix) → (name, padded normalised name) at this level, sorted.
    by_prefix: dict[tuple[int, tuple[str, ...]], list[tuple[str, str]]]
    builtin: tuple[str, ...]
    _small: dict[tuple[int, tuple[str, ...], str], list[tuple[str, str]]] = field(
        default_factory=dict
    )
    _has_other: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def build(cls, dataset: Dataset, level: int) -> LevelPools:
        paths = {c.taxonomy for c in dataset.categories if len(c.taxonomy) > level}
        paths.update(sample_path(dataset, s) for s in dataset.samples)
        groups: dict[tuple[int, tuple[str, ...]], set[str]] = {}
        for p in paths:
            if len(p) <= level or not p[level]:
                continue
            for depth in range(level + 1):
                groups.setdefault((depth, p[:depth]), set()).add(p[level])
        levels = dataset_levels(dataset)
        builtin = BUILTIN_SIBLINGS.get(levels[level], ()) if level < len(levels) else ()
        by_prefix = {k: [(n, _padded(n)) for n in sorted(v)] for k, v in groups.items()}
        return cls(level, by_prefix, builtin)

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.by_prefix.get((0, ()), [])]

    def usable(self) -> bool:
        """Whether questions can be asked: at least two names, counting the built-in list."""
        if len(self.names) >= 2:
            return True
        distinct = {normalize(n) for n in self.names} | {normalize(n) for n in self.builtin}
        return bool(self.builtin) and len(distinct) >= 2

    def has_other(self, truth: str) -> bool:
        """Whether some name at this level (or built in) does not clash with ``truth``."""
        got = self._has_other.get(truth)
        if got is None:
            pt = _padded(truth)
            pool = self.by_prefix.get((0, ()), [])
            got = any(not _clash(pn, pt) for _, pn in pool) or any(
                not _clash(_padded(b), pt) for b in self.builtin
            )
            self._has_other[truth] = got
        return got

    def _filtered(
        self, depth: int, prefix: tuple[str, ...], truth: str, pt: str
    ) -> list[tuple[str, str]]:
        key = (depth, prefix, truth)
        got = self._small.get(key)
        if got is None:
            pool = self.by_prefix.get((depth, prefix), [])
            got = self._small[key] = [(n, pn) for n, pn in pool if not _clash(pn, pt)]
        return got

    def draw(self, path: tuple[str, ...], k: int, rng: random.Random) -> list[str]:
        """Up to ``k`` distinct names for a truth path, siblings first, never clashing with it.

        Each ancestor's pool is used in full when it holds no more than still needed, else
        the rest are sampled uniformly from it (large pools by rejection, never scanned).
        """
        truth = path[self.level]
        pt = _padded(truth)
        chosen: list[str] = []
        taken: set[str] = {pt}
        for depth in range(self.level, -1, -1):
            need = k - len(chosen)
            if need <= 0:
                return chosen
            pool = self.by_prefix.get((depth, path[:depth]), [])
            if len(pool) > _SMALL_POOL:
                got = _reject_sample(pool, need, pt, taken, rng)
                if got is not None:
                    chosen.extend(got)
                    continue
            valid = [
                (n, pn)
                for n, pn in self._filtered(depth, path[:depth], truth, pt)
                if pn not in taken
            ]
            picked = valid if len(valid) <= need else _sample(valid, need, rng)
            for n, pn in picked:
                taken.add(pn)
                chosen.append(n)
        if len(chosen) < k:
            extra = [
                b for b in self.builtin if _padded(b) not in taken and not _clash(_padded(b), pt)
            ]
            picked_b = (
                extra if len(extra) <= k - len(chosen) else _sample(extra, k - len(chosen), rng)
            )
            chosen.extend(_match_case(b, truth) for b in picked_b)
        return chosen


def _reject_sample(
    pool: list[tuple[str, str]], need: int, pt: str, taken: set[str], rng: random.Random
) -> list[str] | None:
    """``need`` valid names drawn uniformly from a large pool, or None after too many misses."""
    got: list[tuple[str, str]] = []
    seen = set(taken)
    for _ in range(20 * need + 20):
        n, pn = pool[int(rng.random() * len(pool))]
        if pn in seen or _clash(pn, pt):
            continue
        seen.add(pn)
        got.append((n, pn))
        if len(got) == need:
            taken.update(pn for _, pn in got)
            return [n for n, _ in got]
    return None


def balanced_roles(
    items: list, can_negative: Callable[[object], bool], rng: random.Random
) -> list[tuple[object, bool]]:
    """(item, positive?) pairs, exactly half positive, every item used where possible.

    An odd count gives one item both a positive and a negative question. Items that cannot
    take a negative are used as positives only as far as negatives balance them.
    """
    order = list(items)
    rng.shuffle(order)
    negs = [x for x in order if can_negative(x)]
    n = len(order)
    half = (n + 1) // 2
    if len(negs) >= half:
        neg_set = negs[:half]
        neg_ids = {id(x) for x in neg_set}
        pos = [x for x in order if id(x) not in neg_ids]
        if n % 2:
            pos.append(neg_set[0])
    else:
        neg_set = negs
        neg_ids = {id(x) for x in neg_set}
        pos = [x for x in order if id(x) not in neg_ids][: len(neg_set)]
    roles = [(x, True) for x in pos] + [(x, False) for x in neg_set]
    rank = {id(x): i for i, x in enumerate(items)}
    roles.sort(key=lambda r: (rank[id(r[0])], not r[1]))
    return roles


class _Maker:
    """Formats prompts and builds :class:`Question` records for one case."""

    def __init__(self, dataset: Dataset, task: str, facet: str, qtype: str, tset: TemplateSet):
        self.dataset = dataset.name
        self.task, self.facet, self.qtype = task, facet, qtype
        self.templates = tset.for_type(qtype)
        self.ids = [tset.template_id(qtype, i) for i in range(len(self.templates))]
        self.lettered = tset.lettered and qtype == "mc"
        word = level_word(facet)
        levels = LEVEL_PLURALS.get(word, word) if tset.name == "original" else word
        #: templates with the case's constant fields filled in, per noun
        self._by_noun: dict[str, list[str]] = {}
        self._fixed = {"level": word, "levels": levels}
        self.n = len(self.templates)

    def _templates(self, noun: str) -> list[str]:
        got = self._by_noun.get(noun)
        if got is None:
            fields = {**self._fixed, "noun": noun, "name": "{name}", "options": "{options}"}
            got = self._by_noun[noun] = [t.format(**fields) for t in self.templates]
        return got

    def make(
        self,
        sample: Sample,
        noun: str,
        truth: str,
        rng: random.Random,
        *,
        name: str = "",
        options: tuple[str, ...] = (),
        accepted: tuple[str, ...] = (),
    ) -> Question:
        t = int(rng.random() * self.n)
        template = self._templates(noun)[t]
        if options:
            prompt = template.replace("{options}", format_options(options, self.lettered))
        else:
            prompt = template.replace("{name}", name)
        tid = self.ids[t]
        qid = question_id(
            self.dataset, sample.path, self.task, self.facet, self.qtype, truth, name, tid
        )
        return Question(
            qid,
            self.dataset,
            sample.path,
            prompt,
            self.qtype,
            self.task,
            self.facet,
            sample.category_name,
            truth,
            tid,
            options,
            self.lettered,
            name,
            accepted,
            sample.id,
        )


def _pick(seq: Sequence, rng: random.Random):
    """One element, uniformly (cheaper than ``rng.choice``)."""
    return seq[int(rng.random() * len(seq))]


def _sample(seq: Sequence, k: int, rng: random.Random) -> list:
    """``k`` distinct elements, uniformly, by a partial Fisher–Yates shuffle."""
    pool = list(seq)
    n = len(pool)
    for i in range(k):
        j = i + int(rng.random() * (n - i))
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


def _mc_options(truth: str, distractors: list[str], rng: random.Random) -> tuple[str, ...]:
    opts = [truth, *distractors]
    for i in range(len(opts) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        opts[i], opts[j] = opts[j], opts[i]
    return tuple(opts)


def granularity(
    dataset: Dataset,
    samples: Sequence[Sample],
    level: str,
    qtype: str,
    tset: TemplateSet,
    rng: random.Random,
) -> list[Question]:
    """Questions at one taxonomy level: true/false, multiple-choice, or short answer."""
    levels = dataset_levels(dataset)
    li = levels.index(level)
    if qtype == "sa" and li != len(levels) - 1:
        raise ConfigError(
            f"short-answer questions ask for the finest level ({levels[-1]}), not {level!r}"
        )
    pools = LevelPools.build(dataset, li)
    if not pools.usable():
        raise ConfigError(
            f"dataset {dataset.name!r} has fewer than two names at level {level!r} and no "
            "built-in sibling list covers it: no question can be asked there"
        )
    maker = _Maker(dataset, "granularity", level, qtype, tset)
    nouns: dict[tuple[str, ...], str] = {}
    items = [(s, sample_path(dataset, s)) for s in _sorted_samples(samples)]
    items = [(s, p) for s, p in items if p[li]]

    def noun(path: tuple[str, ...]) -> str:
        key = path[:li]
        got = nouns.get(key)
        if got is None:
            got = nouns[key] = noun_for(dataset.name, dataset.meta_category, level, path, levels)
        return got

    out: list[Question] = []
    if qtype == "tf":
        for (s, p), positive in balanced_roles(items, lambda it: pools.has_other(it[1][li]), rng):
            name = p[li] if positive else pools.draw(p, 1, rng)[0]
            out.append(maker.make(s, noun(p), "yes" if positive else "no", rng, name=name))
    elif qtype == "mc":
        for s, p in items:
            opts = _mc_options(p[li], pools.draw(p, MC_OPTIONS - 1, rng), rng)
            out.append(maker.make(s, noun(p), p[li], rng, options=opts))
    else:
        cats = dataset.categories
        for s, p in items:
            syn = cats[s.category].synonyms if 0 <= s.category < len(cats) else ()
            out.append(maker.make(s, noun(p), p[li], rng, accepted=tuple(syn)))
    return out


def knowledge_bias(
    dataset: Dataset, samples: Sequence[Sample], tset: TemplateSet, rng: random.Random
) -> list[Question]:
    """For every image one positive (its category) and one negative (a sibling category)."""
    levels = dataset_levels(dataset)
    li = len(levels) - 1
    pools = LevelPools.build(dataset, li)
    if len(pools.names) < 2:
        raise ConfigError(
            f"dataset {dataset.name!r} has fewer than two categories: no knowledge-bias question"
        )
    maker = _Maker(dataset, "knowledge_bias", levels[-1], "tf", tset)
    out: list[Question] = []
    for s in _sorted_samples(samples):
        p = sample_path(dataset, s)
        if not p[li] or not pools.has_other(p[li]):
            continue
        noun = noun_for(dataset.name, dataset.meta_category, levels[-1], p, levels)
        out.append(maker.make(s, noun, "yes", rng, name=p[li]))
        out.append(maker.make(s, noun, "no", rng, name=pools.draw(p, 1, rng)[0]))
    return out


#: Per-dataset index of each sample's attribute values, shared by all attribute cases.
_ATTR_INDEX: dict[tuple[int, int], dict[str, dict[str, tuple[frozenset[str], list[str]]]]] = {}


def _attribute_index(
    dataset: Dataset, min_certainty: int
) -> dict[str, dict[str, tuple[frozenset[str], list[str]]]]:
    """sample id → group → (values held at any certainty, values asked about, sorted).

    Built in one pass and kept while the dataset lives, so 28 CUB groups × 2 question types
    scan the annotations once, not 56 times.
    """
    key = (id(dataset), min_certainty)
    got = _ATTR_INDEX.get(key)
    if got is not None:
        return got
    got = {}
    for s in dataset.samples:
        held: dict[str, set[str]] = {}
        asked: dict[str, set[str]] = {}
        for a in s.annotations:
            held.setdefault(a.group, set()).add(a.value)
            if a.certainty >= min_certainty:
                asked.setdefault(a.group, set()).add(a.value)
        got[s.id] = {g: (frozenset(held[g]), sorted(v)) for g, v in asked.items()}
    _ATTR_INDEX[key] = got
    weakref.finalize(dataset, _ATTR_INDEX.pop, key, None)
    return got


def attribute(
    dataset: Dataset,
    samples: Sequence[Sample],
    group: str,
    qtype: str,
    tset: TemplateSet,
    rng: random.Random,
    *,
    min_certainty: int = CERTAINTY_PROBABLY,
    mc_options: int | None = MC_OPTIONS,
) -> list[Question]:
    """True/false or multiple-choice questions about one attribute group.

    Asked of each image with a value of ``group`` annotated at least ``min_certainty``.
    Negatives and distractors are values the image has at no certainty at all. MC options
    are ``mc_options`` (truth + distractors, default 4), or every value of the group the
    image does not also hold when ``mc_options`` is ``None`` (the paper's "all candidates").
    """
    g = dataset.attribute_group(group)
    noun = attribute_noun(dataset.name, dataset.meta_category)
    maker = _Maker(dataset, "attribute", group, qtype, tset)
    rows = []
    others_of: dict[frozenset[str], list[str]] = {}
    index = _attribute_index(dataset, min_certainty)
    for s in _sorted_samples(samples):
        entry = index.get(s.id, {}).get(group)
        if entry is None:
            continue
        held, asked = entry
        others = others_of.get(held)
        if others is None:
            others = [v for v in g.values if not any(clashes(v, h) for h in held)]
            others_of[held] = others
        rows.append((s, asked, others))
    out: list[Question] = []
    if qtype == "tf":
        for (s, asked, others), positive in balanced_roles(rows, lambda r: bool(r[2]), rng):
            if positive:
                out.append(maker.make(s, noun, "yes", rng, name=_pick(asked, rng)))
            else:
                out.append(maker.make(s, noun, "no", rng, name=_pick(others, rng)))
        return out
    for s, asked, others in rows:
        if not others:
            continue
        truth = _pick(asked, rng)
        k = len(others) if mc_options is None else min(mc_options - 1, len(others))
        out.append(
            maker.make(
                s, noun, truth, rng, options=_mc_options(truth, _sample(others, k, rng), rng)
            )
        )
    return out
