"""GENIA term corpus 3.02 XML -> project schema (nested NER, W2NER split).

Rules (shared/data/genia/README.md):

* tokens: each ``<sentence>``'s text split on whitespace *and* at every ``<cons>``
  start and end; other punctuation stays attached (``regions,``);
* entities: ``<cons>`` whose ``sem`` starts with ``G#DNA``, ``G#RNA``, ``G#protein``,
  ``G#cell_line`` or ``G#cell_type`` (subtypes folded into those 5 types); other classes
  and coordinated terms such as ``(AND G#protein_molecule G#protein_molecule)`` are
  dropped, annotated conjuncts inside them are kept; of several kept ``<cons>`` with the
  same tokens only the innermost is kept; all drops are counted;
* split over the 18546 sentences in corpus order ``i``: test ``i >= 16692``, dev
  ``i % 4 == 0 and i <= 6672``, train the rest (exactly W2NER's files);
* id key ``<article position:04d>-<MEDLINE id>-<sentence index in article>``.
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Sequence

import datasets

from dataset_scripts import common

TYPES = {"G#DNA": "DNA", "G#RNA": "RNA", "G#protein": "protein",
         "G#cell_line": "cell_line", "G#cell_type": "cell_type"}
CORPUS_SENTENCES, TEST_START, DEV_LAST = 18546, 16692, 6672


def w2ner_split(i: int) -> str:
    """The W2NER split of the ``i``-th (0-based) sentence of the corpus."""
    if i >= TEST_START:
        return "test"
    return "dev" if i % 4 == 0 and i <= DEV_LAST else "train"


def fold_type(sem: str | None) -> str | None:
    """The target type for a ``sem`` attribute, or ``None`` when the term is not kept."""
    if sem is None or sem.startswith("("):
        return None
    return next((t for prefix, t in TYPES.items() if sem.startswith(prefix)), None)


def tokenize(sentence: ET.Element, where: str, path: Path,
             dropped: Counter[str]) -> tuple[list[str], list[dict]]:
    """Tokens of one ``<sentence>`` and its kept entities (innermost per span, sorted).

    ``dropped`` receives the count of every ``<cons>`` left out, by rule.
    """
    tokens: list[str] = []
    current: list[str] = []
    found: list[tuple[int, int, str, int]] = []  # start, end, type, depth

    def flush() -> None:
        if current:
            tokens.append("".join(current))
            current.clear()

    def text(chunk: str | None) -> None:
        for char in chunk or "":
            if char.isspace():
                flush()
            else:
                current.append(char)

    def walk(node: ET.Element, depth: int) -> None:
        text(node.text)
        for child in node:
            if child.tag != "cons":
                raise common.ConversionError(path, where, f"unexpected <{child.tag}> inside a sentence")
            flush()
            start = len(tokens)
            walk(child, depth + 1)
            flush()
            sem = child.get("sem")
            type_ = fold_type(sem)
            if type_ is None:
                rule = ("coordinated terms" if sem and sem.startswith("(")
                        else "<cons> without sem" if sem is None else "<cons> of other classes")
                dropped[rule] += 1
            elif start == len(tokens):
                raise common.ConversionError(path, where, f"<cons sem={sem!r}> covers no token")
            else:
                found.append((start, len(tokens), type_, depth))
            text(child.tail)

    walk(sentence, 0)
    flush()
    innermost: dict[tuple[int, int], tuple[str, int]] = {}
    for start, end, type_, depth in found:
        span = (start, end)
        if span in innermost:
            dropped["exact duplicate entities" if innermost[span][0] == type_
                    else "same-span <cons> of another type (innermost kept)"] += 1
            if depth <= innermost[span][1]:
                continue
        innermost[span] = (type_, depth)
    entities = [common.entity(s, e, t) for (s, e), (t, _) in sorted(innermost.items())]
    return tokens, entities


def convert(src: Path | str, *, split_name: str | None = None, id_format: str = common.DEFAULT_ID_FORMAT,
            split_scheme: str = "w2ner", report: bool = True) -> datasets.DatasetDict:
    """Convert ``GENIAcorpus3.02.xml`` (a file, or a directory holding it).

    ``split_scheme="w2ner"`` makes the W2NER train/dev/test split (needs the full
    18546-sentence corpus); ``"none"`` puts every sentence in ``split_name`` (or train).
    """
    path = Path(src)
    if path.is_dir():
        path = path / "GENIAcorpus3.02.xml"
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise common.ConversionError(path, f"line {err.position[0]}", f"invalid XML: {err}") from None
    rows: list[tuple[str, dict, Counter[str]]] = []
    for position, article in enumerate(root.iter("article")):
        medline = (article.findtext("articleinfo/bibliomisc") or "").strip()
        if not medline:
            raise common.ConversionError(path, f"article {position}", "no <bibliomisc> MEDLINE id")
        for index, sentence in enumerate(article.iter("sentence")):
            where = f"article {position} ({medline}), sentence {index}"
            dropped: Counter[str] = Counter()
            tokens, entities = tokenize(sentence, where, path, dropped)
            key = f"{position:04d}-{medline}-{index}"
            rows.append((where, {"tokens": tokens, "entities": entities, "relations": [], "key": key}, dropped))
    if split_scheme == "w2ner" and len(rows) != CORPUS_SENTENCES:
        raise common.ConversionError(path, "corpus", f"{len(rows)} sentences, but the W2NER split is defined "
                                     f"for the {CORPUS_SENTENCES} of GENIA 3.02; use split_scheme='none'")
    names = ("train", "dev", "test") if split_scheme == "w2ner" else (split_name or "train",)
    splits = {name: common.Split() for name in names}
    for i, (where, row, dropped) in enumerate(rows):
        name = w2ner_split(i) if split_scheme == "w2ner" else names[0]
        row["id"] = common.make_id(id_format, name, row.pop("key"))
        splits[name].add(row, path, where)
        splits[name].dropped.update(dropped)
    return common.finish(splits, report)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """GENIA's own option: which split to make."""
    parser.add_argument("--split-scheme", choices=("w2ner", "none"), default="w2ner",
                        help="w2ner: the standard train/dev/test split; none: one split (--split-name)")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: ``python -m dataset_scripts.genia GENIAcorpus3.02.xml OUT``."""
    return common.main(convert, __doc__.splitlines()[0], argv, add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
