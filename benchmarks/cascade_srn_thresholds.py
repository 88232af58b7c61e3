#!/usr/bin/env python
"""Dev-set calibration of a trained Cascade-SRN checkpoint's decision thresholds, then its test scores.

    python benchmarks/cascade_srn_thresholds.py out/cascade_srn-late-scierc --dataset_dir ../shared/data/scierc

The cascade has three thresholds, read by `decode` from the config fields `entity_threshold`, `subject_threshold` and
`relation_threshold` (and `nested`). They are swept on the dev split in the order of the cascade: `nested` and `entity_threshold` for NER F1 (subjects off, so nothing else runs), then
`subject_threshold` and `relation_threshold` together (a grid) for RE+ F1 (strict). The forward pass of every batch is computed once;
each grid point only re-runs `decode`. Prints one JSON line per grid point (the curve) and a last line with the chosen
values and the test scores with the checkpoint's own thresholds and with the calibrated ones. `--save` writes the
calibrated values into the checkpoint's config.json.
"""

from __future__ import annotations

import argparse
import json

import torch
from transformers import AutoModel, AutoTokenizer

import hf_jointie  # noqa: F401  (registers cascade_srn)
from hf_jointie.data import load_jointie_dataset
from hf_jointie.metrics import compute_joint_ie_metrics
from hf_jointie.training import LABEL_KEYS, JointIEDataCollator

GRID = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7)
#: The subject x relation grid (each point re-runs the subject and object modules).
PAIR_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)


def forward_all(model, collator, rows, batch_size: int) -> list[tuple[dict, object, list]]:
    """`(batch, outputs, references)` of every batch of `rows`, the forward pass run once."""
    cached = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = collator(rows[start: start + batch_size])
            references = batch.pop("references")
            batch = {key: value for key, value in batch.items() if key not in LABEL_KEYS}
            cached.append((batch, model(**batch), references))
    return cached


def scores(model, cached, **settings) -> dict[str, float]:
    """Metrics of `decode` over the cached batches with the config fields in `settings`."""
    for name, value in settings.items():
        setattr(model.config, name, value)
    predictions, references = [], []
    with torch.inference_mode():
        for batch, outputs, rows in cached:
            predictions.extend(model.decode(outputs, batch))
            references.extend(rows)
    return compute_joint_ie_metrics(predictions, references)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--dataset_dir", required=True)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", action="store_true", help="write the calibrated values into config.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = AutoModel.from_pretrained(args.checkpoint).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
    data = load_jointie_dataset(args.dataset_dir)
    collator = JointIEDataCollator(tokenizer, model.config.entity_types, model.config.relation_types)
    fields = ("nested", "entity_threshold", "subject_threshold", "relation_threshold")
    original = {name: getattr(model.config, name) for name in fields}

    dev = forward_all(model, collator, list(data["dev"]), args.batch_size)
    best = dict(original)
    found = []
    for nested in (True, False):
        for value in GRID:
            result = scores(model, dev, nested=nested, entity_threshold=value, subject_threshold=1.0)
            found.append((result["ner_f1"], nested, value))
            print(json.dumps({"split": "dev", "nested": nested, "entity_threshold": value,
                              "ner_f1": round(result["ner_f1"], 2)}))
    _, best["nested"], best["entity_threshold"] = max(found)
    found = []
    for subject in PAIR_GRID:
        for relation in PAIR_GRID:
            point = {**best, "subject_threshold": subject, "relation_threshold": relation}
            result = scores(model, dev, **point)
            found.append((result["re_strict_f1"], subject, relation))
            print(json.dumps({"split": "dev", **point, "re_strict_f1": round(result["re_strict_f1"], 2),
                              "re_strict_precision": round(result["re_strict_precision"], 2),
                              "re_strict_recall": round(result["re_strict_recall"], 2)}))
    _, best["subject_threshold"], best["relation_threshold"] = max(found)

    test = forward_all(model, collator, list(data["test"]), args.batch_size)
    keys = ("ner_f1", "re_f1", "re_strict_f1", "ner_precision", "ner_recall", "re_strict_precision",
            "re_strict_recall")
    report = {"chosen_on_dev": best}
    for label, settings in (("test_checkpoint_thresholds", original), ("test_calibrated", best)):
        result = scores(model, test, **settings)
        report[label] = {key: round(result[key], 2) for key in keys}
    print(json.dumps(report))
    if args.save:
        for name, value in best.items():
            setattr(model.config, name, value)
        model.config.save_pretrained(args.checkpoint)


if __name__ == "__main__":
    main()
