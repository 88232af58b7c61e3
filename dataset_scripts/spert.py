"""SpERT JSON -> project schema (CoNLL04, ADE folds, SciERC's SpERT copy).

Source: a JSON list of ``{"tokens", "entities": [{"type", "start", "end"}],
"relations": [{"type", "head", "tail"}], "orig_id"?}`` with ``end`` already exclusive
(lavis-nlp/spert ``scripts/fetch_datasets.sh``).  Spans, relations and entity order are
copied unchanged; only exact duplicate entities would be dropped (counted).
"""

from __future__ import annotations

from pathlib import Path


from dataset_scripts import common


def read_split(path: Path, split: str, *, id_format: str = common.DEFAULT_ID_FORMAT) -> common.Split:
    """Convert one SpERT file; the id key is ``orig_id`` when present, else the position."""
    out = common.Split()
    for position, (where, obj) in enumerate(common.read_json_records(path)):
        common.require(obj, ("tokens", "entities", "relations"), path, where)
        for k, ent in enumerate(obj["entities"]):
            common.require(ent, ("type", "start", "end"), path, f"{where}, entity {k}")
        for k, rel in enumerate(obj["relations"]):
            common.require(rel, ("type", "head", "tail"), path, f"{where}, relation {k}")
        entities = [common.entity(e["start"], e["end"], e["type"]) for e in obj["entities"]]
        relations = [{"head": r["head"], "tail": r["tail"], "type": r["type"]} for r in obj["relations"]]
        record = {"id": common.make_id(id_format, split, obj.get("orig_id", position)),
                  "tokens": obj["tokens"], "entities": entities, "relations": relations}
        out.add_deduplicated(record, path, where)
    return out


convert, main = common.json_converter(read_split, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
