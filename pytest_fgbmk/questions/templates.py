"""Question templates as data: the release's four per type, verbatim, and our extended ten.

A template is a ``str.format`` pattern over these fields:

* ``{level}``: the level or attribute being asked about ("species", "wing color");
* ``{levels}``: the word used after "which of the following" (:func:`which_word`: the
  release's CUB files write "genera" and "classes", its others the level itself);
* ``{noun}``: what the image shows, per dataset and level (CUB: "aves", "object" at class);
* ``{name}``: the name a true/false question asks about;
* ``{options}``: the options of a multiple-choice question, already formatted.

Every set carries a version; the version enters each question's template id, and so its
stable id, so changing a template's wording can never silently pair old and new questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_fgbmk.errors import ConfigError


@dataclass(frozen=True, slots=True)
class TemplateSet:
    """A named, versioned set of templates per question type (``tf``, ``mc``, ``sa``).

    ``lettered`` sets label multiple-choice options "A." … "D." in the prompt; the release's
    own set lists quoted option texts without letters.
    """

    name: str
    version: str
    tf: tuple[str, ...]
    mc: tuple[str, ...]
    sa: tuple[str, ...]
    lettered: bool = False

    def for_type(self, qtype: str) -> tuple[str, ...]:
        return {"tf": self.tf, "mc": self.mc, "sa": self.sa}[qtype]

    def template_id(self, qtype: str, index: int) -> str:
        """``"<name>-<version>:<qtype>:<index>"``, e.g. ``"original-r1:tf:0"``."""
        return f"{self.name}-{self.version}:{qtype}:{index}"


_TF_SUFFIX = " Answer with yes or no."
_MC_SUFFIX = (
    " Choose one answer from the following list: {options}."
    " Answer the question using a single word or phrase."
)
_SA_SUFFIX = " Directly answer with {level} names."

#: The FG-BMK release's templates, word for word (see fgbmk-official-sample/human-oriented).
ORIGINAL = TemplateSet(
    name="original",
    version="r1",
    tf=(
        "Is the {level} of the {noun} {name}?" + _TF_SUFFIX,
        "Is the {noun} {level} in this photo a {name}?" + _TF_SUFFIX,
        "From your observation, is the {level} of the {noun} shown a {name}?" + _TF_SUFFIX,
        "Does this {noun} belong to the {level} known as {name}?" + _TF_SUFFIX,
    ),
    mc=(
        "What is the {level} of the {noun} in this image?" + _MC_SUFFIX,
        "Observing the {noun} in the image, which of the following {levels} is it?" + _MC_SUFFIX,
        "Which {level} does this {noun} in the photo belong to?" + _MC_SUFFIX,
        "Can you identify the {level} of this {noun}?" + _MC_SUFFIX,
    ),
    sa=(
        "Can you identify the {level} of this {noun} from the image?" + _SA_SUFFIX,
        "Which {level} does the {noun} in this photo belong to?" + _SA_SUFFIX,
        "Based on your observation, what {level} of the {noun} is depicted?" + _SA_SUFFIX,
        "What {level} of the {noun} is shown in the image?" + _SA_SUFFIX,
    ),
)

_XMC_SUFFIX = "\n{options}\nAnswer with the option's letter from the given choices directly."

#: Our extended set: ten per type, options lettered, to check template sensitivity.
EXTENDED = TemplateSet(
    name="extended",
    version="x1",
    tf=(
        "Look at the {noun} in this image. Is its {level} {name}?" + _TF_SUFFIX,
        "Would you say the {level} of this {noun} is {name}?" + _TF_SUFFIX,
        "Is it correct that the {noun} pictured here has the {level} {name}?" + _TF_SUFFIX,
        "Judging from the picture, is {name} the {level} of the {noun}?" + _TF_SUFFIX,
        "An expert labels the {level} of this {noun} as {name}. Are they right?" + _TF_SUFFIX,
        "Does the {noun} in the photograph have {name} as its {level}?" + _TF_SUFFIX,
        "Based on what you can see, is the {noun}'s {level} {name}?" + _TF_SUFFIX,
        "True or false: the {level} of the {noun} in this image is {name}." + _TF_SUFFIX,
        "Examine the image closely. Is the {level} of this {noun} {name}?" + _TF_SUFFIX,
        "Can the {noun} shown here be described by the {level} {name}?" + _TF_SUFFIX,
    ),
    mc=(
        "What is the {level} of the {noun} in this image?" + _XMC_SUFFIX,
        "Which {level} best describes the {noun} shown?" + _XMC_SUFFIX,
        "Look at the {noun} carefully. Which of these is its {level}?" + _XMC_SUFFIX,
        "Identify the {level} of the {noun} in the photo." + _XMC_SUFFIX,
        "From the options below, pick the {level} of the pictured {noun}." + _XMC_SUFFIX,
        "Which option gives the correct {level} of this {noun}?" + _XMC_SUFFIX,
        "An expert is asked for the {level} of this {noun}. Which answer should they give?"
        + _XMC_SUFFIX,
        "Select the {level} that matches the {noun} in the image." + _XMC_SUFFIX,
        "Based on its appearance, which {level} does this {noun} have?" + _XMC_SUFFIX,
        "Question: what {level} is the {noun} in this picture?" + _XMC_SUFFIX,
    ),
    sa=(
        "What is the {level} of the {noun} in this image?" + _SA_SUFFIX,
        "Name the {level} of the {noun} shown in the photo." + _SA_SUFFIX,
        "Look at the {noun}. Which {level} is it?" + _SA_SUFFIX,
        "Identify the {level} of this {noun}." + _SA_SUFFIX,
        "Which {level} does the pictured {noun} belong to?" + _SA_SUFFIX,
        "Tell me the {level} of the {noun} in this picture." + _SA_SUFFIX,
        "An expert looks at this {noun}. What {level} would they name?" + _SA_SUFFIX,
        "Based on its appearance, what is the {noun}'s {level}?" + _SA_SUFFIX,
        "From the image alone, determine the {level} of the {noun}." + _SA_SUFFIX,
        "What {level} is the {noun} in this photograph?" + _SA_SUFFIX,
    ),
    lettered=True,
)

TEMPLATE_SETS: dict[str, TemplateSet] = {t.name: t for t in (ORIGINAL, EXTENDED)}

#: The word the release writes after "which of the following" (multiple-choice template 1)
#: where it is not the level itself, per (dataset, level): a recorded fact of its files, not
#: a pluralising rule (its iNat2021 files keep the singular, "which of the following genus").
#:
#: * ``cub``/``genus``: "genera" (fgbmk-official-sample ``cub/genus/genus_question_choice.jsonl``);
#: * ``cub``/``class``: "classes" (the release's ``cub/class`` choice file, 1,511 questions).
#:
#: Checked to keep the level in the sample: ``cub``/``species``, ``inat2021``/``order``.
WHICH_OF_THE_FOLLOWING: dict[tuple[str, str], str] = {
    ("cub", "genus"): "genera",
    ("cub", "class"): "classes",
    ("cub200", "genus"): "genera",
    ("cub200", "class"): "classes",
}


def which_word(dataset: str, level: str) -> str:
    """The word after "which of the following" for a dataset's level (a level as the prompt
    writes it, e.g. ``"genus"``): :data:`WHICH_OF_THE_FOLLOWING`, else the level itself."""
    return WHICH_OF_THE_FOLLOWING.get((dataset.lower(), level), level)


def level_of_which_word(dataset: str, word: str) -> str:
    """The inverse of :func:`which_word` ("genera" → "genus" for CUB; unknown words unchanged)."""
    for (ds, level), w in WHICH_OF_THE_FOLLOWING.items():
        if ds == dataset.lower() and w == word:
            return level
    return word


#: What the image shows, per dataset and level; "*" is the dataset's default. A value
#: ``"{level:NAME}"`` means: the sample's own name at level NAME, lower-cased (iNat writes
#: "the plantae" below kingdom). Unlisted datasets use their meta-category, else "object".
NOUNS: dict[str, dict[str, str]] = {
    "cub": {"class": "object", "*": "aves"},
    "cub200": {"class": "object", "*": "aves"},
    "inat2021": {"kingdom": "object", "*": "{level:kingdom}"},
    "stanforddog": {"*": "dog"},
    "stanforddogs": {"*": "dog"},
    "dogs": {"*": "dog"},
    "stanfordcar": {"*": "car"},
    "stanfordcars": {"*": "car"},
    "cars": {"*": "car"},
    "aircraft": {"*": "aircraft"},
    "fgvc_aircraft": {"*": "aircraft"},
    "flowers102": {"*": "flower"},
    "food101": {"*": "food"},
    "vegfru": {"*": "object"},
    "products10k": {"*": "product"},
    "deepfashion": {"*": "clothing"},
    "skincon": {"*": "skin lesion"},
    "wine": {"*": "wine"},
}

#: Nouns for attribute questions (the paper: "What is the eye color of the bird …").
ATTRIBUTE_NOUNS = {"cub": "bird", "cub200": "bird", "deepfashion": "clothing", "skincon": "skin"}

#: Real sibling names for levels a dataset may hold only one name of (CUB's class "aves",
#: iNat's kingdom when only plants): true/false negatives come from here, and MC
#: distractors unless :data:`BUILTIN_OPTIONS` lists the level. ``class`` holds the names the
#: release's CUB class-level true/false file asks about (aves, amphibia, arachnida,
#: chondrichthyes, insecta, mammalia, reptilia in fgbmk-official-sample).
BUILTIN_SIBLINGS: dict[str, tuple[str, ...]] = {
    "kingdom": ("animalia", "plantae", "fungi", "protozoa", "chromista"),
    "phylum": ("chordata", "arthropoda", "mollusca", "tracheophyta", "bryophyta", "basidiomycota"),
    "class": ("aves", "mammalia", "reptilia", "amphibia", "insecta", "arachnida", "chondrichthyes"),
}

#: MC distractor names per level where the release's choice files draw from a narrower list
#: than its true/false files: its CUB class-level options are aves, reptilia, amphibia,
#: insecta, arachnida and mammalia only.
BUILTIN_OPTIONS: dict[str, tuple[str, ...]] = {
    "class": ("aves", "mammalia", "reptilia", "amphibia", "insecta", "arachnida"),
}


def template_set(name: str) -> TemplateSet:
    """The template set called ``name`` (``original`` or ``extended``)."""
    try:
        return TEMPLATE_SETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown template set {name!r}; choose one of {', '.join(TEMPLATE_SETS)}"
        ) from None


def noun_for(
    dataset: str, meta: str, level: str, taxonomy: Sequence[str], levels: Sequence[str]
) -> str:
    """What a question calls the pictured thing, for a dataset's level and a sample's taxonomy."""
    table = NOUNS.get(dataset.lower())
    if table is None:
        return meta or "object"
    noun = table.get(level, table["*"])
    if noun.startswith("{level:"):
        ref = noun[7:-1]
        if ref in levels and len(taxonomy) == len(levels):
            return taxonomy[levels.index(ref)].lower()
        return meta or "object"
    return noun


def attribute_noun(dataset: str, meta: str) -> str:
    """What an attribute question calls the pictured thing ("bird" for CUB)."""
    return (
        ATTRIBUTE_NOUNS.get(dataset.lower())
        or NOUNS.get(dataset.lower(), {}).get("*")
        or meta
        or "object"
    )


def format_options(options: Sequence[str], lettered: bool) -> str:
    """Options as the release writes them (``"a", "b"``) or lettered one per line (``A. a``)."""
    if lettered:
        return "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(options))
    return '"' + '", "'.join(options) + '"'
