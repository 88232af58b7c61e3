"""NER, RE and RE+ scores for joint entity and relation extraction.

Predictions and references are both lists (one item per sentence) of `{"entities": [...], "relations": [...]}` in the
data schema: entities with `start`, `end` (exclusive), `type` and optional `fragments`; relations with `head` / `tail`
indexing that sentence's entities and a `type`. Extra keys such as `score` are ignored.

* `ner`: an entity is correct when its boundaries (and, for discontinuous entities, all fragments) and its type match.
* `re` (boundaries): a relation is correct when both argument spans and the relation type match.
* `re_strict` ("RE+", the setting of SpERT, ITER and most joint papers): additionally both argument entity types match.

Each tuple counts once per sentence: duplicated annotations (SciERC's train split has a few) collapse, and nested
entities are simply different tuples. Scores are percentages. Micro scores pool all tuples; `*_macro_f1` averages the
per-type F1 over the types in `entity_types` / `relation_types` when given, otherwise over every type seen in the
references or predictions (ADE is reported macro).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

TASKS = ("ner", "re", "re_strict")


def _spans(entity: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    fragments = entity.get("fragments") or [[entity["start"], entity["end"]]]
    return tuple((int(start), int(end)) for start, end in fragments)


def _tuples(sentence: Mapping[str, Any], where: str) -> dict[str, set[tuple]]:
    """The sets of NER, RE and RE+ tuples of one sentence; the last element of each tuple is its type."""
    entities = list(sentence.get("entities") or [])
    relations = list(sentence.get("relations") or [])
    ner = {(_spans(entity), entity["type"]) for entity in entities}
    re_boundary, re_strict = set(), set()
    for relation in relations:
        head, tail = relation["head"], relation["tail"]
        if not (0 <= head < len(entities) and 0 <= tail < len(entities)):
            raise ValueError(
                f"{where}: relation {relation} points at a missing entity (the sentence has {len(entities)})"
            )
        head_entity, tail_entity = entities[head], entities[tail]
        re_boundary.add((_spans(head_entity), _spans(tail_entity), relation["type"]))
        re_strict.add(
            (_spans(head_entity), head_entity["type"], _spans(tail_entity), tail_entity["type"], relation["type"])
        )
    return {"ner": ner, "re": re_boundary, "re_strict": re_strict}


def _prf(true_positives: int, predicted: int, gold: int) -> tuple[float, float, float]:
    precision = 100.0 * true_positives / predicted if predicted else 0.0
    recall = 100.0 * true_positives / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def compute_joint_ie_metrics(
    predictions: Sequence[Mapping[str, Any]],
    references: Sequence[Mapping[str, Any]],
    entity_types: Iterable[str] | None = None,
    relation_types: Iterable[str] | None = None,
) -> dict[str, float]:
    """Micro precision / recall / F1 and macro F1 for `ner`, `re` and `re_strict` (see the module docstring).

    Returns `{"ner_precision", "ner_recall", "ner_f1", "ner_macro_f1", "re_precision", ..., "re_strict_macro_f1"}`.
    """
    if len(predictions) != len(references):
        raise ValueError(f"Got {len(predictions)} predictions but {len(references)} references.")
    counts = {task: Counter() for task in TASKS}  # keys: (kind, type) with kind in tp / pred / gold
    for index, (prediction, reference) in enumerate(zip(predictions, references)):
        predicted = _tuples(prediction, f"prediction {index}")
        gold = _tuples(reference, f"reference {index}")
        for task in TASKS:
            for kind, items in (("tp", predicted[task] & gold[task]), ("pred", predicted[task]), ("gold", gold[task])):
                counts[task].update((kind, item[-1]) for item in items)
    declared = {"ner": entity_types, "re": relation_types, "re_strict": relation_types}
    results = {}
    for task in TASKS:
        count = counts[task]
        totals = {kind: sum(n for (k, _), n in count.items() if k == kind) for kind in ("tp", "pred", "gold")}
        precision, recall, f1 = _prf(totals["tp"], totals["pred"], totals["gold"])
        types = sorted(declared[task]) if declared[task] is not None else sorted({label for _, label in count})
        per_type = [_prf(count["tp", label], count["pred", label], count["gold", label])[2] for label in types]
        results[f"{task}_precision"] = precision
        results[f"{task}_recall"] = recall
        results[f"{task}_f1"] = f1
        results[f"{task}_macro_f1"] = sum(per_type) / len(per_type) if per_type else 0.0
    return results
