"""BioRelEx 1.0 JSON -> project schema (binding interactions between entity clusters).

Source: a JSON list of sentences ``{"id", "text", "entities": [{"label", "names":
{name: {"is_mentioned", "mentions": [[start, end], ...]}}, ...}], "interactions":
[{"participants": [i, j], "type", "label", "implicit"?}]}`` with character offsets,
``end`` exclusive (YerevaNN/BioRelEx releases, ``evaluate.py``).  An entity is a
*cluster* of synonymous names.  Rules:

* tokens: the text split on whitespace and at every mention start and end;
* one entity per mention, typed by its cluster's ``label``;
* an interaction becomes a relation between every mention of its first and every
  mention of its second participant (head/tail order as in the source), typed by the
  interaction ``type``.  Only positive interactions (``label`` 1) are kept by default;
  with ``labels="all"`` negative (-1) and neutral (0) ones are kept as
  ``<type>:negative`` / ``<type>:neutral``;
* dropped by rule and counted: non-positive interactions (by default), interactions
  with a participant that has no mention, exact duplicate entities.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Sequence

import datasets

from dataset_scripts import common

LABEL_SUFFIX = {1: "", 0: ":neutral", -1: ":negative"}


def tokenize(text: str, cuts: set[int]) -> list[tuple[int, int]]:
    """Character spans of the tokens: whitespace-separated words, also cut at ``cuts``."""
    spans = []
    for word in re.finditer(r"\S+", text):
        start = word.start()
        for cut in sorted(c for c in cuts if word.start() < c < word.end()):
            spans.append((start, cut))
            start = cut
        spans.append((start, word.end()))
    return spans


def read_split(path: Path, split: str, *, id_format: str = common.DEFAULT_ID_FORMAT,
               labels: str = "positive") -> common.Split:
    """Convert one BioRelEx file; the id key is the sentence's ``id`` (else its position)."""
    out = common.Split()
    for position, (where, obj) in enumerate(common.read_json_records(path)):
        common.require(obj, ("text", "entities", "interactions"), path, where)
        text = obj["text"]
        mentions: list[tuple[int, int, int]] = []  # cluster, char start, char end
        for c, cluster in enumerate(obj["entities"]):
            common.require(cluster, ("label", "names"), path, f"{where}, entity {c}")
            for name, info in cluster["names"].items():
                for span in info.get("mentions") or []:
                    if (not isinstance(span, list) or len(span) != 2
                            or not 0 <= span[0] < span[1] <= len(text)):
                        raise common.ConversionError(path, f"{where}, entity {c}", f"mention {span!r} of "
                                                     f"{name!r} is not a [start, end) in a text of {len(text)} chars")
                    if text[span[0]:span[1]].lower() != name.lower():
                        out.notes["mentions whose text differs from their name"] += 1
                    mentions.append((c, span[0], span[1]))
        tokens = tokenize(text, {b for _, s, e in mentions for b in (s, e)})
        entities, of_cluster = [], {}
        for c, s, e in mentions:
            covered = [i for i, (ts, te) in enumerate(tokens) if s <= ts and te <= e]
            if not covered:
                raise common.ConversionError(path, f"{where}, entity {c}", f"mention [{s}, {e}) covers no token")
            of_cluster.setdefault(c, []).append(len(entities))
            entities.append(common.entity(covered[0], covered[-1] + 1, obj["entities"][c]["label"]))
        relations = []
        for k, inter in enumerate(obj["interactions"]):
            common.require(inter, ("participants", "type"), path, f"{where}, interaction {k}")
            parts, label = inter["participants"], inter.get("label", 1)
            if (len(parts) != 2 or not all(isinstance(p, int) and 0 <= p < len(obj["entities"]) for p in parts)
                    or label not in LABEL_SUFFIX):
                raise common.ConversionError(path, f"{where}, interaction {k}", f"participants {parts!r} must be "
                                             f"two entity indices and label {label!r} one of 1, 0, -1")
            if label != 1 and labels == "positive":
                out.dropped[f"interactions with label {label} (only positive kept)"] += 1
                continue
            if not all(p in of_cluster for p in parts):
                out.dropped["interactions with a participant that has no mention"] += 1
                continue
            out.notes["interactions converted"] += 1
            relations += [{"head": h, "tail": t, "type": inter["type"] + LABEL_SUFFIX[label]}
                          for h in of_cluster[parts[0]] for t in of_cluster[parts[1]]]
        record = {"id": common.make_id(id_format, split, obj.get("id", position)),
                  "tokens": [text[s:e] for s, e in tokens], "entities": entities, "relations": relations}
        out.add_deduplicated(record, path, where)
    return out


def convert(src: Path | str, *, split_name: str | None = None, id_format: str = common.DEFAULT_ID_FORMAT,
            labels: str = "positive", report: bool = True) -> datasets.DatasetDict:
    """Convert a BioRelEx file or a directory of split files to a ``DatasetDict``."""
    return common.convert_source(src, read_split, (".json",), split_name=split_name, report=report,
                                 id_format=id_format, labels=labels)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """BioRelEx's own option: which interaction labels to keep."""
    parser.add_argument("--labels", choices=("positive", "all"), default="positive",
                        help="keep only positive interactions (default) or all, suffixing :negative/:neutral")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: ``python -m dataset_scripts.biorelex SRC OUT``."""
    return common.main(convert, __doc__.splitlines()[0], argv, add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
