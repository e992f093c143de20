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
from dataclasses import dataclass, field, fields
from hashlib import blake2b

from pytest_fgbmk.data.records import CERTAINTY_PROBABLY, Dataset, Sample
from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.hashing import SEP as _SEP
from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.questions.templates import (
    BUILTIN_OPTIONS,
    BUILTIN_SIBLINGS,
    TemplateSet,
    attribute_noun,
    format_options,
    noun_for,
    which_word,
)
from pytest_fgbmk.questions.text import clashes, normalize
from pytest_fgbmk.task_names import ATTRIBUTE, GRANULARITY, KNOWLEDGE_BIAS

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


def _sample_key(s: Sample) -> tuple[str, str]:
    return (s.id, s.path)


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
    #: the built-in names multiple-choice distractors come from (:data:`templates.BUILTIN_OPTIONS`)
    builtin_options: tuple[str, ...]
    _small: dict[tuple[int, tuple[str, ...], str], list[tuple[str, str]]] = field(
        default_factory=dict
    )
    _has_other: dict[str, bool] = field(default_factory=dict)
    #: truth path → (padded truth, one stage per ancestor, nearest first); see :meth:`_plan`.
    _plans: dict[tuple[str, ...], tuple[str, list[list]]] = field(default_factory=dict)

    @classmethod
    def build(cls, dataset: Dataset, level: int) -> LevelPools:
        paths = {c.taxonomy for c in dataset.categories if len(c.taxonomy) > level}
        paths.update(_sample_paths(dataset))
        groups: dict[tuple[int, tuple[str, ...]], set[str]] = {}
        for p in paths:
            if len(p) <= level or not p[level]:
                continue
            for depth in range(level + 1):
                groups.setdefault((depth, p[:depth]), set()).add(p[level])
        levels = dataset_levels(dataset)
        name = levels[level] if level < len(levels) else ""
        builtin = BUILTIN_SIBLINGS.get(name, ())
        options = BUILTIN_OPTIONS.get(name, builtin)
        by_prefix = {k: [(n, _padded(n)) for n in sorted(v)] for k, v in groups.items()}
        return cls(level, by_prefix, builtin, options)

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

    def _plan(self, path: tuple[str, ...]) -> tuple[str, list[list]]:
        """(padded truth, stages) for a truth path, kept per path.

        A stage is ``[large pool or None, names not clashing with the truth or None until
        first needed, depth]``, from this level's depth up to the root; a large pool is only
        filtered in full if rejection sampling from it fails.
        """
        got = self._plans.get(path)
        if got is None:
            truth = path[self.level]
            pt = _padded(truth)
            stages: list[list] = []
            for depth in range(self.level, -1, -1):
                pool = self.by_prefix.get((depth, path[:depth]), [])
                if len(pool) > _SMALL_POOL:
                    stages.append([pool, None, depth])
                else:
                    stages.append([None, self._filtered(depth, path[:depth], truth, pt), depth])
            got = self._plans[path] = (pt, stages)
        return got

    def draw(
        self, path: tuple[str, ...], k: int, rng: random.Random, *, options: bool = False
    ) -> list[str]:
        """Up to ``k`` distinct names for a truth path, siblings first, never clashing with it.

        ``options``: the names are multiple-choice distractors, so the built-in fallback is
        :attr:`builtin_options` (true/false negatives use :attr:`builtin`).

        Each ancestor's pool is used in full when it holds no more than still needed, else
        the rest are sampled uniformly from it (large pools by rejection, never scanned).
        """
        pt, stages = self._plans.get(path) or self._plan(path)
        chosen: list[str] = []
        taken: set[str] = {pt}
        for stage in stages:
            need = k - len(chosen)
            if need <= 0:
                return chosen
            large, valid, depth = stage
            if large is not None:
                got = _reject_sample(large, need, pt, taken, rng)
                if got is not None:
                    chosen.extend(got)
                    continue
                if valid is None:
                    valid = stage[1] = self._filtered(depth, path[:depth], path[self.level], pt)
            if chosen:
                # the filtered pool already leaves out the truth; drop what was taken since
                valid = [(n, pn) for n, pn in valid if pn not in taken]
            if len(valid) <= need:
                picked = valid
            elif need == 1:
                picked = [valid[int(rng.random() * len(valid))]]
            else:
                picked = _sample(valid, need, rng)
            for n, pn in picked:
                taken.add(pn)
                chosen.append(n)
        if len(chosen) < k:
            truth = path[self.level]
            builtin = self.builtin_options if options else self.builtin
            extra = [b for b in builtin if _padded(b) not in taken and not _clash(_padded(b), pt)]
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
    random_ = rng.random
    size = len(pool)
    for _ in range(20 * need + 20):
        n, pn = pool[int(random_() * size)]
        if pn in seen or pt in pn or pn in pt:
            continue
        seen.add(pn)
        got.append((n, pn))
        if len(got) == need:
            taken.update(pn for _, pn in got)
            return [n for n, _ in got]
    return None


class _Tables:
    """Per-dataset lookups every case shares, built once and dropped with the dataset."""

    def __init__(self) -> None:
        self.pools: dict[int, LevelPools] = {}
        #: id(split) → (split, [(sample, taxonomy path)] sorted by sample id and path)
        self.items: dict[int, tuple[Sequence[Sample], list[tuple[Sample, tuple[str, ...]]]]] = {}
        #: min certainty → sample id → group → (values held at any certainty, asked, sorted)
        self.attributes: dict[int, dict[str, dict[str, tuple[frozenset[str], list[str]]]]] = {}
        #: (id(split), min certainty) → (split, group → [(sample, held, asked)],
        #: group → [(sample, asked, others)])
        self.attribute_rows: dict[tuple[int, int], tuple[Sequence[Sample], dict, dict]] = {}
        #: every sample's taxonomy path (a set; one pass over the samples for all levels)
        self.sample_paths: frozenset[tuple[str, ...]] | None = None


_TABLES: dict[int, _Tables] = {}


def _tables(dataset: Dataset) -> _Tables:
    got = _TABLES.get(id(dataset))
    if got is None:
        got = _TABLES[id(dataset)] = _Tables()
        weakref.finalize(dataset, _TABLES.pop, id(dataset), None)
    return got


def _sample_paths(dataset: Dataset) -> frozenset[tuple[str, ...]]:
    """The distinct taxonomy paths of the dataset's samples (every split), once per dataset
    (each level's pools read them: 2.06M paths for 330,000 samples at
    ``bench_full_scale --scale 0.1`` before)."""
    tables = _tables(dataset)
    if tables.sample_paths is None:
        tables.sample_paths = frozenset(sample_path(dataset, s) for s in dataset.samples)
    return tables.sample_paths


def level_pools(dataset: Dataset, level: int) -> LevelPools:
    """The dataset's :class:`LevelPools` at a level index, built once per dataset."""
    pools = _tables(dataset).pools
    got = pools.get(level)
    if got is None:
        got = pools[level] = LevelPools.build(dataset, level)
    return got


def _is_split(dataset: Dataset, samples: Sequence[Sample]) -> bool:
    """Whether ``samples`` is one of the dataset's own (immutable) split tuples."""
    return bool(samples) and dataset.split(samples[0].split) is samples


def _sorted_items(
    dataset: Dataset, samples: Sequence[Sample]
) -> list[tuple[Sample, tuple[str, ...]]]:
    """(sample, taxonomy path) sorted by (id, path); kept per dataset for its split tuples."""
    cache = _tables(dataset).items
    got = cache.get(id(samples))
    if got is not None and got[0] is samples:
        return got[1]
    items = [(s, sample_path(dataset, s)) for s in sorted(samples, key=_sample_key)]
    if _is_split(dataset, samples):
        cache[id(samples)] = (samples, items)
    return items


def balanced_roles(
    items: Sequence, can_negative: Callable[[object], bool], rng: random.Random
) -> list[tuple[object, bool]]:
    """(item, positive?) pairs, exactly half positive, every item used where possible.

    An odd count gives one item both a positive and a negative question. Items that cannot
    take a negative are used as positives only as far as negatives balance them. The result
    follows the items' order, an item's positive before its negative.
    """
    n = len(items)
    order = list(range(n))
    rng.shuffle(order)  # the same permutation as shuffling the items themselves
    negs = [i for i in order if can_negative(items[i])]
    half = (n + 1) // 2
    neg = bytearray(n)
    if len(negs) >= half:
        for i in negs[:half]:
            neg[i] = 1
        pos = bytearray(1 - x for x in neg)
        if n % 2:
            pos[negs[0]] = 1
    else:
        for i in negs:
            neg[i] = 1
        pos = bytearray(n)
        left = len(negs)
        for i in order:
            if not left:
                break
            if not neg[i]:
                pos[i] = 1
                left -= 1
    out: list[tuple[object, bool]] = []
    for i, x in enumerate(items):
        if pos[i]:
            out.append((x, True))
        if neg[i]:
            out.append((x, False))
    return out


def _question_factory() -> Callable[..., Question]:
    """``Question(*fields)`` that fills the slots directly.

    The frozen dataclass ``__init__`` sets each of the 16 fields through
    ``object.__setattr__``, which costs twice as much. Falls back to the class itself when
    its fields are not exactly the ones filled here.
    """
    names = tuple(f.name for f in fields(Question))
    expected = ("id", "dataset", "image", "prompt", "qtype", "task", "facet", "category")
    expected += ("truth", "template_id", "options", "lettered", "asked", "accepted", "sample_id")
    expected += ("option_synonyms",)
    if names != expected or hasattr(Question, "__post_init__"):
        return Question
    (
        set_id, set_dataset, set_image, set_prompt, set_qtype, set_task, set_facet,
        set_category, set_truth, set_template_id, set_options, set_lettered, set_asked,
        set_accepted, set_sample_id, set_option_synonyms,
    ) = (getattr(Question, n).__set__ for n in names)  # fmt: skip
    new = object.__new__

    def make(
        id_: str, dataset: str, image: str, prompt: str, qtype: str, task: str, facet: str,
        category: str, truth: str, template_id: str, options: tuple[str, ...],
        lettered: bool, asked: str, accepted: tuple[str, ...], sample_id: str,
        option_synonyms: tuple[tuple[str, ...], ...] = (),
    ) -> Question:  # fmt: skip
        q = new(Question)
        set_id(q, id_)
        set_dataset(q, dataset)
        set_image(q, image)
        set_prompt(q, prompt)
        set_qtype(q, qtype)
        set_task(q, task)
        set_facet(q, facet)
        set_category(q, category)
        set_truth(q, truth)
        set_template_id(q, template_id)
        set_options(q, options)
        set_lettered(q, lettered)
        set_asked(q, asked)
        set_accepted(q, accepted)
        set_sample_id(q, sample_id)
        set_option_synonyms(q, option_synonyms)
        return q

    return make


#: Builds a :class:`Question` from its 16 fields in order (the generators' hot path).
new_question = _question_factory()


class _Maker:
    """Formats prompts and builds :class:`Question` records for one case."""

    def __init__(self, dataset: Dataset, task: str, facet: str, qtype: str, tset: TemplateSet):
        self.dataset = dataset.name
        self.task, self.facet, self.qtype = task, facet, qtype
        self.templates = tset.for_type(qtype)
        self.ids = [tset.template_id(qtype, i) for i in range(len(self.templates))]
        self.lettered = tset.lettered and qtype == "mc"
        word = level_word(facet)
        levels = which_word(dataset.name, word) if tset.name == "original" else word
        #: templates with the case's constant fields filled in, per noun
        self._by_noun: dict[str, list[str]] = {}
        self._fixed = {"level": word, "levels": levels}
        self.n = len(self.templates)
        #: the question id's hash input around the image and truth (see questions.ids.question_id)
        self.head = f"{dataset.name}{_SEP}"
        self.mid = f"{_SEP}{task}{_SEP}{facet}{_SEP}{qtype}{_SEP}"
        self.make = self._closure()

    def for_noun(self, noun: str) -> list[str]:
        """The case's templates with everything but the name or options filled in."""
        got = self._by_noun.get(noun)
        if got is None:
            fields_ = {**self._fixed, "noun": noun, "name": "{name}", "options": "{options}"}
            got = self._by_noun[noun] = [t.format(**fields_) for t in self.templates]
        return got

    def _closure(self) -> Callable[..., Question]:
        """``make(sample, templates, truth, random_, name="", options=(), accepted=(),
        option_synonyms=())``: one question, ``templates`` from :meth:`for_noun`, ``random_``
        the case's ``rng.random``.

        A closure over the case's constants, the generators' hot path.
        """
        n, ids, lettered, head, mid = self.n, self.ids, self.lettered, self.head, self.mid
        dataset, qtype, task, facet = self.dataset, self.qtype, self.task, self.facet
        quoted = '", "'.join  # format_options(options, False) without the call

        def make(
            sample: Sample,
            templates: list[str],
            truth: str,
            random_: Callable[[], float],
            name: str = "",
            options: tuple[str, ...] = (),
            accepted: tuple[str, ...] = (),
            option_synonyms: tuple[tuple[str, ...], ...] = (),
            _new: Callable[..., Question] = new_question,
            _hash: Callable = blake2b,
        ) -> Question:
            t = int(random_() * n)
            if options:
                listed = format_options(options, True) if lettered else f'"{quoted(options)}"'
                prompt = templates[t].replace("{options}", listed)
            else:
                prompt = templates[t].replace("{name}", name)
            tid = ids[t]
            image = sample.path
            text = f"{head}{image}{mid}{truth}\x1f{name}\x1f{tid}"  # \x1f: hashing.SEP
            return _new(
                _hash(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest(),
                dataset,
                image,
                prompt,
                qtype,
                task,
                facet,
                sample.category_name,
                truth,
                tid,
                options,
                lettered,
                name,
                accepted,
                sample.id,
                option_synonyms,
            )

        return make


def _sample(seq: Sequence, k: int, rng: random.Random) -> list:
    """``k`` distinct elements, uniformly, by a partial Fisher–Yates shuffle."""
    pool = list(seq)
    n = len(pool)
    random_ = rng.random
    for i in range(k):
        j = i + int(random_() * (n - i))
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


def truth_positions(sizes: Sequence[int], rng: random.Random) -> list[int]:
    """Where the right option goes in each of a case's multiple-choice questions.

    ``sizes[i]`` is question ``i``'s option count. Among the questions with ``k`` options,
    positions ``0 … k-1`` each occur ``⌊m/k⌋`` or ``⌈m/k⌉`` times (``m`` such questions),
    in an order drawn from ``rng``: an answerer that always picks "A" (or any one position)
    scores exactly ``1/k`` up to one question, on the whole case and, with
    :func:`pytest_fgbmk.questions.subsample.stratified`, on any subset.
    """
    by_k: dict[int, list[int]] = {}
    for i, k in enumerate(sizes):
        by_k.setdefault(k, []).append(i)
    out = [0] * len(sizes)
    for k in sorted(by_k):
        members = by_k[k]
        places = [j % k for j in range(len(members))]
        rng.shuffle(places)
        for i, at in zip(members, places, strict=True):
            out[i] = at
    return out


def _placed(truth: str, distractors: Sequence[str], at: int, rng: random.Random) -> tuple[str, ...]:
    """The distractors in a uniformly shuffled order with the truth inserted at ``at``."""
    opts = list(distractors)
    random_ = rng.random
    for i in range(len(opts) - 1, 0, -1):
        j = int(random_() * (i + 1))
        opts[i], opts[j] = opts[j], opts[i]
    opts.insert(at, truth)
    return tuple(opts)


def _option_synonyms(
    options: tuple[str, ...], synonyms: dict[str, tuple[str, ...]]
) -> tuple[tuple[str, ...], ...]:
    """Each option's synonyms at the question's level, aligned with ``options``; ``()`` when
    none has any (so the question reads and hashes as one without synonyms)."""
    got = tuple(synonyms.get(o, ()) for o in options)
    return got if any(got) else ()


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
    pools = level_pools(dataset, li)
    if not pools.usable():
        raise ConfigError(
            f"dataset {dataset.name!r} has fewer than two names at level {level!r} and no "
            "built-in sibling list covers it: no question can be asked there"
        )
    maker = _Maker(dataset, GRANULARITY, level, qtype, tset)
    make, draw, random_ = maker.make, pools.draw, rng.random
    items = [(s, p) for s, p in _sorted_items(dataset, samples) if p[li]]
    by_path: dict[tuple[str, ...], list[str]] = {}
    by_ancestors: dict[tuple[str, ...], list[str]] = {}

    def templates(path: tuple[str, ...]) -> list[str]:
        """Templates for the noun of a path (the noun depends on the levels above ``li``)."""
        got = by_path.get(path)
        if got is None:
            key = path[:li]
            got = by_ancestors.get(key)
            if got is None:
                noun = noun_for(dataset.name, dataset.meta_category, level, path, levels)
                got = by_ancestors[key] = maker.for_noun(noun)
            by_path[path] = got
        return got

    out: list[Question] = []
    append = out.append
    if qtype == "tf":
        has_other = pools.has_other
        for (s, p), positive in balanced_roles(items, lambda it: has_other(it[1][li]), rng):
            if positive:
                append(make(s, templates(p), "yes", random_, p[li]))
            else:
                append(make(s, templates(p), "no", random_, draw(p, 1, rng)[0]))
    elif qtype == "mc":
        k = MC_OPTIONS - 1
        drawn = [draw(p, k, rng, options=True) for _, p in items]
        places = truth_positions([len(d) + 1 for d in drawn], rng)
        synonyms = dataset.synonyms_at(li)
        for (s, p), d, at in zip(items, drawn, places, strict=True):
            options = _placed(p[li], d, at, rng)
            per_option = _option_synonyms(options, synonyms) if synonyms else ()
            append(make(s, templates(p), p[li], random_, "", options, (), per_option))
    else:
        cats = dataset.categories
        for s, p in items:
            syn = cats[s.category].synonyms if 0 <= s.category < len(cats) else ()
            append(make(s, templates(p), p[li], random_, "", (), tuple(syn)))
    return out


def knowledge_bias(
    dataset: Dataset, samples: Sequence[Sample], tset: TemplateSet, rng: random.Random
) -> list[Question]:
    """For every image one positive (its category) and one negative (a sibling category)."""
    levels = dataset_levels(dataset)
    li = len(levels) - 1
    pools = level_pools(dataset, li)
    if len(pools.names) < 2:
        raise ConfigError(
            f"dataset {dataset.name!r} has fewer than two categories: no knowledge-bias question"
        )
    maker = _Maker(dataset, KNOWLEDGE_BIAS, levels[-1], "tf", tset)
    make, draw, has_other, random_ = maker.make, pools.draw, pools.has_other, rng.random
    by_path: dict[tuple[str, ...], list[str]] = {}
    out: list[Question] = []
    append = out.append
    for s, p in _sorted_items(dataset, samples):
        if not p[li] or not has_other(p[li]):
            continue
        templates = by_path.get(p)
        if templates is None:
            noun = noun_for(dataset.name, dataset.meta_category, levels[-1], p, levels)
            templates = by_path[p] = maker.for_noun(noun)
        append(make(s, templates, "yes", random_, p[li]))
        append(make(s, templates, "no", random_, draw(p, 1, rng)[0]))
    return out


def _attribute_index(
    dataset: Dataset, min_certainty: int
) -> dict[str, dict[str, tuple[frozenset[str], list[str]]]]:
    """sample id → group → (values held at any certainty, values asked about, sorted).

    Built in one pass and kept while the dataset lives, so 28 CUB groups × 2 question types
    scan the annotations once, not 56 times.
    """
    cache = _tables(dataset).attributes
    got = cache.get(min_certainty)
    if got is not None:
        return got
    got = {}
    #: value → (frozenset({value}), [value]), shared by every image with one value in a group
    single: dict[str, tuple[frozenset[str], list[str]]] = {}
    for s in dataset.samples:
        by_group: dict[str, list] = {}
        for a in s.annotations:
            same = by_group.get(a.group)
            if same is None:
                by_group[a.group] = [a]
            else:
                same.append(a)
        entry: dict[str, tuple[frozenset[str], list[str]]] = {}
        for g, anns in by_group.items():
            if len(anns) == 1:
                a = anns[0]
                if a.certainty >= min_certainty:
                    one = single.get(a.value)
                    if one is None:
                        one = single[a.value] = (frozenset((a.value,)), [a.value])
                    entry[g] = one
            else:
                asked = {a.value for a in anns if a.certainty >= min_certainty}
                if asked:
                    entry[g] = (frozenset(a.value for a in anns), sorted(asked))
        got[s.id] = entry
    cache[min_certainty] = got
    return got


def _attribute_rows(
    dataset: Dataset, samples: Sequence[Sample], group: str, min_certainty: int
) -> list[tuple[Sample, list[str], list[str]]]:
    """(sample, values asked about, values it holds at no certainty) per image asked about
    ``group``, in sample order; kept per dataset for its split tuples."""
    tables = _tables(dataset)
    key = (id(samples), min_certainty)
    got = tables.attribute_rows.get(key)
    if got is None or got[0] is not samples:
        index = _attribute_index(dataset, min_certainty)
        by_group: dict[str, list] = {}
        for s, _ in _sorted_items(dataset, samples):
            for g, (held, asked) in index.get(s.id, {}).items():
                rows_g = by_group.get(g)
                if rows_g is None:
                    rows_g = by_group[g] = []
                rows_g.append((s, held, asked))
        got = (samples, by_group, {})
        if _is_split(dataset, samples):
            tables.attribute_rows[key] = got
    _, by_group, done = got
    rows = done.get(group)
    if rows is None:
        values = dataset.attribute_group(group).values
        others_of: dict[frozenset[str], list[str]] = {}
        rows = []
        for s, held, asked in by_group.get(group, ()):
            others = others_of.get(held)
            if others is None:
                others = [v for v in values if not any(clashes(v, h) for h in held)]
                others_of[held] = others
            rows.append((s, asked, others))
        done[group] = rows
    return rows


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
    maker = _Maker(dataset, ATTRIBUTE, group, qtype, tset)
    templates = maker.for_noun(attribute_noun(dataset.name, dataset.meta_category))
    make, random_ = maker.make, rng.random
    rows = _attribute_rows(dataset, samples, group, min_certainty)
    out: list[Question] = []
    append = out.append
    if qtype == "tf":
        for (s, asked, others), positive in balanced_roles(rows, lambda r: bool(r[2]), rng):
            if positive:
                append(make(s, templates, "yes", random_, asked[int(random_() * len(asked))]))
            else:
                append(make(s, templates, "no", random_, others[int(random_() * len(others))]))
        return out
    chosen = []
    for s, asked, others in rows:
        if not others:
            continue
        truth = asked[int(random_() * len(asked))]
        k = len(others) if mc_options is None else min(mc_options - 1, len(others))
        chosen.append((s, truth, _sample(others, k, rng)))
    places = truth_positions([len(d) + 1 for _, _, d in chosen], rng)
    for (s, truth, d), at in zip(chosen, places, strict=True):
        append(make(s, templates, truth, random_, "", _placed(truth, d, at, rng)))
    return out
