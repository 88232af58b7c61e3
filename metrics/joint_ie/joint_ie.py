"""`evaluate` metric module for joint entity and relation extraction: `evaluate.load("metrics/joint_ie")`.

A thin wrapper around `hf_jointie.metrics.compute_joint_ie_metrics`, so both give identical numbers.
"""

import datasets
import evaluate

from hf_jointie.metrics import compute_joint_ie_metrics

_DESCRIPTION = """
NER, RE (boundaries) and RE+ (strict: boundaries and entity types) precision, recall and F1, micro and macro, for
joint entity and relation extraction. Entities are compared by span (and fragments, for discontinuous entities) and
type; relations by both argument entities and type.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of {"entities": [{"start", "end", "type", "fragments"?}], "relations": [{"head", "tail", "type"}]}
        (word offsets, `end` exclusive; relations index the same sentence's entities; extra keys such as "score" are
        ignored).
    references: list in the same format (the dataset rows).
    entity_types, relation_types (optional): label sets the macro F1 averages over (default: all labels seen).
Returns:
    ner_precision, ner_recall, ner_f1, ner_macro_f1, re_*, re_strict_* (percentages).
Example:
    >>> metric = evaluate.load("metrics/joint_ie")
    >>> sentence = {"entities": [{"start": 0, "end": 1, "type": "Peop"}], "relations": []}
    >>> metric.compute(predictions=[sentence], references=[sentence])["ner_f1"]
    100.0
"""

_ENTITY = {
    "start": datasets.Value("int32"),
    "end": datasets.Value("int32"),
    "type": datasets.Value("string"),
    "fragments": datasets.List(datasets.List(datasets.Value("int32"))),
}
_SENTENCE = {
    "entities": datasets.List(_ENTITY),
    "relations": datasets.List(
        {"head": datasets.Value("int32"), "tail": datasets.Value("int32"), "type": datasets.Value("string")}
    ),
}


def _schema_only(sentence):
    """Keep the keys the features declare (predictions carry scores and ids too); fragments default to []."""
    return {
        "entities": [
            {"start": e["start"], "end": e["end"], "type": e["type"], "fragments": e.get("fragments") or []}
            for e in sentence.get("entities") or []
        ],
        "relations": [{"head": r["head"], "tail": r["tail"], "type": r["type"]} for r in sentence.get("relations") or []],
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class JointIE(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": _SENTENCE, "references": _SENTENCE}),
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of predictions and references (extra keys such as scores are dropped)."""
        return super().add_batch(
            predictions=[_schema_only(p) for p in predictions or []],
            references=[_schema_only(r) for r in references or []],
            **kwargs,
        )

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Score everything added so far plus `predictions` / `references`."""
        if predictions is not None:
            predictions = [_schema_only(p) for p in predictions]
        if references is not None:
            references = [_schema_only(r) for r in references]
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _compute(self, predictions, references, entity_types=None, relation_types=None):
        return compute_joint_ie_metrics(predictions, references, entity_types, relation_types)
