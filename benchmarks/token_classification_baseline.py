#!/usr/bin/env python
"""The NER baseline a user reaches for today: `AutoModelForTokenClassification` with BIO tags, trained with `Trainer`.

    python benchmarks/token_classification_baseline.py --backbone <path> --dataset_dir ../shared/data/conll04 \
        --output_dir out/bio-conll04 --num_train_epochs 15 --learning_rate 2e-4 ...

It reads the same JSONL data as the hf_jointie models, tags each word B-<type> / I-<type> / O (the label of a word's
first subword; the other subwords are ignored, `-100`), trains with the standard `DataCollatorForTokenClassification`,
decodes BIO runs back to entities and scores them with the shared metric, writing `test_results.json` with the same
`test_ner_*` keys as `examples/run_joint_ie.py` (the RE keys are 0: the baseline extracts no relations).

BIO cannot represent overlapping entities: for the few nested entities of a flat dataset (ADE has some), the longer
entity is tagged and the entities overlapping it are dropped from the *training* targets; the test references keep
every entity, so the baseline is charged for what it cannot predict, as a user would be.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
    set_seed,
)

from hf_jointie import compute_joint_ie_metrics, label_sets, load_jointie_dataset
from hf_jointie.data import first_subword_index

IGNORE = -100


@dataclass
class BaselineArguments:
    backbone: str = field(metadata={"help": "Path or name of the pretrained encoder and tokenizer."})
    dataset_dir: str = field(metadata={"help": "Directory of <split>.jsonl files in the hf_jointie schema."})
    train_split: str = field(default="train")
    eval_split: str = field(default="dev")
    test_split: str = field(default="test")


def bio_labels(entity_types: list[str]) -> list[str]:
    return ["O"] + [f"{prefix}-{label}" for label in entity_types for prefix in ("B", "I")]


def bio_tags(row: dict, label_ids: dict[str, int]) -> list[int]:
    """Word-level BIO tag ids of one row; among overlapping entities the longer (then the earlier) one wins."""
    tags = [label_ids["O"]] * len(row["tokens"])
    taken = np.zeros(len(row["tokens"]), dtype=bool)
    for entity in sorted(row["entities"], key=lambda e: (-(e["end"] - e["start"]), e["start"])):
        start, end = entity["start"], entity["end"]
        if taken[start:end].any():
            continue
        taken[start:end] = True
        tags[start] = label_ids[f"B-{entity['type']}"]
        tags[start + 1 : end] = [label_ids[f"I-{entity['type']}"]] * (end - start - 1)
    return tags


def bio_entities(tags: list[str]) -> list[dict]:
    """Entities (word offsets, `end` exclusive) of a BIO sequence; an I- tag that continues nothing starts an entity."""
    entities: list[dict] = []
    for index, tag in enumerate(tags):
        prefix, _, label = tag.partition("-")
        continues = entities and prefix == "I" and entities[-1]["type"] == label and entities[-1]["end"] == index
        if continues:
            entities[-1]["end"] = index + 1
        elif prefix in ("B", "I"):
            entities.append({"start": index, "end": index + 1, "type": label})
    return entities


def encode(rows: dict, tokenizer, label_ids: dict[str, int]) -> dict:
    """Tokenize a batch of rows and put each word's tag on its first subword."""
    encoding = tokenizer(rows["tokens"], is_split_into_words=True, truncation=False)
    labels = []
    for index, tokens in enumerate(rows["tokens"]):
        row = {"tokens": tokens, "entities": rows["entities"][index]}
        word_labels = np.full(len(encoding["input_ids"][index]), IGNORE)
        word_labels[first_subword_index(encoding.word_ids(index), len(tokens))] = bio_tags(row, label_ids)
        labels.append(word_labels.tolist())
    encoding["labels"] = labels
    return encoding


def predict(trainer: Trainer, tokenizer, rows, model_inputs, id2label: dict[int, str]) -> list[dict]:
    """Word-level BIO predictions (each word's first subword) decoded to `{"entities", "relations": []}` per row."""
    logits = trainer.predict(model_inputs).predictions
    predictions = []
    for index, tokens in enumerate(rows["tokens"]):
        first = first_subword_index(tokenizer(tokens, is_split_into_words=True).word_ids(), len(tokens))
        tags = [id2label[int(i)] for i in logits[index, first].argmax(-1)]
        predictions.append({"entities": bio_entities(tags), "relations": []})
    return predictions


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = HfArgumentParser((BaselineArguments, TrainingArguments))
    args, training_args = parser.parse_args_into_dataclasses(argv)
    set_seed(training_args.seed)
    data = load_jointie_dataset(args.dataset_dir)
    entity_types, _ = label_sets(data)
    labels = bio_labels(entity_types)
    label_ids = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(args.backbone)
    model = AutoModelForTokenClassification.from_pretrained(
        args.backbone, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label_ids
    )

    def prepare(split: str):
        """The model inputs of a split: subword ids and first-subword BIO labels."""
        encoded = data[split].map(lambda rows: encode(rows, tokenizer, label_ids), batched=True)
        return encoded.select_columns([c for c in tokenizer.model_input_names + ["labels"] if c in encoded.column_names])

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=prepare(args.train_split),
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_model()
    metrics: dict[str, float] = {}
    for prefix, split in (("eval", args.eval_split), ("test", args.test_split)):
        if split not in data:
            continue
        predictions = predict(trainer, tokenizer, data[split], prepare(split), model.config.id2label)
        scores = compute_joint_ie_metrics(predictions, list(data[split]), entity_types, [])
        split_metrics = {f"{prefix}_{key}": value for key, value in scores.items()}
        (Path(training_args.output_dir) / f"{prefix}_results.json").write_text(json.dumps(split_metrics, indent=2))
        metrics.update(split_metrics)
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:] or None)
