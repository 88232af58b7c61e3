"""W2NER JSON -> project schema (CADEC, ShARe13/14, and W2NER's flat/nested sets).

Source: a JSON list of ``{"sentence": [tokens], "ner": [{"index": [token ids], "type"}]}``
(W2NER, Li et al. AAAI 2022).  Index lists may have gaps (discontinuous mentions).
Rules (shared/data/cadec/README.md): every entity's fragments are the maximal runs of
consecutive indices, ``start``/``end`` span the first to last fragment, entities are
sorted by (start, end, fragments), exact duplicates are dropped and counted.
"""

from __future__ import annotations

from pathlib import Path


from dataset_scripts import common


def read_split(path: Path, split: str, *, id_format: str = common.DEFAULT_ID_FORMAT) -> common.Split:
    """Convert one W2NER file; the id key is the sentence position."""
    out = common.Split()
    for position, (where, obj) in enumerate(common.read_json_records(path)):
        common.require(obj, ("sentence", "ner"), path, where)
        entities = []
        for k, mention in enumerate(obj["ner"]):
            common.require(mention, ("index", "type"), path, f"{where}, ner {k}")
            index = mention["index"]
            if not index or not all(isinstance(i, int) and not isinstance(i, bool) for i in index):
                raise common.ConversionError(path, f"{where}, ner {k}", f"index must be a non-empty list of ints, got {index!r}")
            if len(set(index)) != len(index):
                raise common.ConversionError(path, f"{where}, ner {k}", f"index {index} repeats a token (overlapping fragments)")
            fragments = common.runs(index)
            entities.append(common.entity(fragments[0][0], fragments[-1][1], mention["type"], fragments))
        record = {"id": common.make_id(id_format, split, position), "tokens": obj["sentence"],
                  "entities": entities, "relations": []}
        out.add_deduplicated(record, path, where, sort=True)
    return out


convert, main = common.json_converter(read_split, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
