"""DyGIE / DyGIE++ JSONL -> project schema (one record per sentence).

Source: one document a line, ``{"doc_key", "sentences": [[tokens], ...], "ner":
[[[start, end, type], ...] per sentence], "relations": [[[s1, e1, s2, e2, type], ...] per
sentence], "clusters"?, "events"?}`` with *document-level, inclusive* token indices
(dwadden/dygiepp ``doc/data.md``).  Indices are shifted to the sentence and ``end``
made exclusive.  By rule, and counted in the report rather than lost silently:

* an entity overlapping its sentence's boundary is dropped, with relations using it;
* a relation whose arguments are not both inside its sentence (cross-sentence) is dropped;
* exact duplicate entities are dropped (relations remapped);
* coreference clusters and events have no place in the schema and are counted only.

A relation argument that is no entity of its sentence is an error (dangling relation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


from dataset_scripts import common


def _int_list(value: Any, length: int) -> bool:
    """True when ``value`` is a list of ``length`` ints followed by a type string."""
    return (isinstance(value, list) and len(value) == length + 1 and isinstance(value[-1], str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value[:-1]))


def read_split(path: Path, split: str, *, id_format: str = common.DEFAULT_ID_FORMAT) -> common.Split:
    """Convert one DyGIE file; the id key is ``<doc_key>-<sentence index>``."""
    out = common.Split()
    for where, doc in common.read_json_records(path):
        common.require(doc, ("doc_key", "sentences"), path, where)
        sentences = doc["sentences"]
        n_sent = len(sentences)
        for field in ("ner", "relations"):
            if len(doc.get(field, [[]] * n_sent)) != n_sent:
                raise common.ConversionError(path, where, f"{field!r} has {len(doc[field])} lists "
                                             f"for {n_sent} sentences")
        out.notes["coreference clusters not converted"] += len(doc.get("clusters") or [])
        out.notes["events not converted"] += sum(len(e) for e in doc.get("events") or [])
        offset = 0
        for i, tokens in enumerate(sentences):
            here = f"{where} (doc {doc['doc_key']!r}), sentence {i}"
            lo, hi = offset, offset + len(tokens)  # this sentence's doc-level tokens [lo, hi)
            offset = hi
            entities: list[dict] = []
            by_span: dict[tuple[int, int], int] = {}
            crossing: set[tuple[int, int]] = set()
            for k, ner in enumerate(doc.get("ner", [[]] * n_sent)[i]):
                if not _int_list(ner, 2) or ner[0] > ner[1]:
                    raise common.ConversionError(path, f"{here}, ner {k}", f"expected [start, end, type] "
                                                 f"with start <= end (inclusive), got {ner!r}")
                s, e = ner[0], ner[1] + 1
                if e <= lo or s >= hi:
                    raise common.ConversionError(path, f"{here}, ner {k}", f"span {ner[:2]} lies outside "
                                                 f"its sentence (doc tokens {lo}..{hi - 1})")
                if s < lo or e > hi:
                    out.dropped["entities crossing a sentence boundary"] += 1
                    crossing.add((s, e))
                    continue
                by_span.setdefault((s, e), len(entities))
                entities.append(common.entity(s - lo, e - lo, ner[2]))
            relations = []
            for k, rel in enumerate(doc.get("relations", [[]] * n_sent)[i]):
                if not _int_list(rel, 4):
                    raise common.ConversionError(path, f"{here}, relation {k}",
                                                 f"expected [s1, e1, s2, e2, type], got {rel!r}")
                head, tail = (rel[0], rel[1] + 1), (rel[2], rel[3] + 1)
                if not all(lo <= s and e <= hi for s, e in (head, tail)):
                    if head in crossing or tail in crossing:
                        out.dropped["relations on entities crossing a sentence boundary"] += 1
                    else:
                        out.dropped["relations whose arguments cross sentences"] += 1
                    continue
                missing = [list(arg) for arg in (head, tail) if arg not in by_span]
                if missing:
                    raise common.ConversionError(path, f"{here}, relation {k}", f"argument span(s) {missing} "
                                                 "(exclusive end) are no entity of the sentence (dangling relation)")
                relations.append({"head": by_span[head], "tail": by_span[tail], "type": rel[4]})
            record = {"id": common.make_id(id_format, split, f"{doc['doc_key']}-{i}"),
                      "tokens": tokens, "entities": entities, "relations": relations}
            out.add_deduplicated(record, path, here)
    return out


convert, main = common.json_converter(read_split, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
