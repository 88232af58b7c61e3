"""CopyRE/CasRel/TPLinker NYT JSON -> project schema (relation triples over entity words).

Sources (one sentence per record, the text already space-tokenized):

* CopyRE/CasRel: ``{"text", "triple_list": [[subject, relation, object], ...]}``; the
  subject/object words are located in the tokens, first occurrence (CasRel's rule);
  several occurrences are counted in the report;
* TPLinker: ``{"text", "id", "relation_list": [{"subject", "object", "predicate",
  "subj_char_span", "obj_char_span"}], "entity_list"?: [{"text", "type", "char_span"}]}``;
  character spans are mapped to whitespace tokens and must align.

Entities are the distinct argument spans (typed from ``entity_list`` when given, else
``ENTITY``), sorted by position; exact duplicate triples are dropped and counted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


from dataset_scripts import common

DEFAULT_TYPE = "ENTITY"


def read_split(path: Path, split: str, *, id_format: str = common.DEFAULT_ID_FORMAT) -> common.Split:
    """Convert one NYT file; the id key is the record's ``id`` (else its position)."""
    out = common.Split()
    for position, (where, obj) in enumerate(common.read_json_records(path)):
        common.require(obj, ("text",), path, where)
        words = list(re.finditer(r"\S+", obj["text"]))
        tokens = [w.group() for w in words]
        starts = {w.start(): i for i, w in enumerate(words)}
        ends = {w.end(): i + 1 for i, w in enumerate(words)}

        def locate(phrase: str, char_span: Any, what: str) -> tuple[int, int]:
            if char_span is not None:
                s, e = char_span
                if s not in starts or e not in ends:
                    raise common.ConversionError(path, where, f"{what} {phrase!r} char span {char_span} "
                                                 "does not align with whitespace tokens")
                return starts[s], ends[e]
            target = phrase.split()
            hits = [i for i in range(len(tokens) - len(target) + 1) if tokens[i:i + len(target)] == target]
            if not target or not hits:
                raise common.ConversionError(path, where, f"{what} {phrase!r} is not in the sentence's tokens")
            if len(hits) > 1:
                out.notes["entity words found more than once (first occurrence used)"] += 1
            return hits[0], hits[0] + len(target)

        if "triple_list" in obj:
            triples = [(locate(t[0], None, "subject"), t[1], locate(t[2], None, "object"))
                       for t in obj["triple_list"]]
        elif "relation_list" in obj:
            for k, rel in enumerate(obj["relation_list"]):
                common.require(rel, ("subject", "object", "predicate"), path, f"{where}, relation {k}")
            triples = [(locate(r["subject"], r.get("subj_char_span"), "subject"), r["predicate"],
                        locate(r["object"], r.get("obj_char_span"), "object")) for r in obj["relation_list"]]
        else:
            raise common.ConversionError(path, where, "neither 'triple_list' nor 'relation_list'")
        types = {locate(e["text"], e.get("char_span"), "entity"): e.get("type", DEFAULT_TYPE)
                 for e in obj.get("entity_list") or []}
        spans = sorted({span for h, _, t in triples for span in (h, t)} | set(types))
        index = {span: i for i, span in enumerate(spans)}
        relations, seen = [], set()
        for head, rel, tail in triples:
            if (head, rel, tail) in seen:
                out.dropped["exact duplicate triples"] += 1
                continue
            seen.add((head, rel, tail))
            relations.append({"head": index[head], "tail": index[tail], "type": rel})
        record = {"id": common.make_id(id_format, split, obj.get("id", position)), "tokens": tokens,
                  "entities": [common.entity(s, e, types.get((s, e), DEFAULT_TYPE)) for s, e in spans],
                  "relations": relations}
        out.add(record, path, where)
    return out


convert, main = common.json_converter(read_split, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
