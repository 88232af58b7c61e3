#!/usr/bin/env python
"""Train and evaluate any hf_jointie architecture with `Trainer`; runs as is under `accelerate launch`.

    accelerate launch examples/run_joint_ie.py --model_type iter --backbone <path-or-name> \
        --dataset_dir ../shared/data/conll04 --output_dir out/iter-conll04 --do_train --do_eval --do_predict

Every standard `TrainingArguments` flag works (`--num_train_epochs`, `--learning_rate`, ...), plus
`--head_learning_rate` / `--head_weight_decay` for the parameters outside the pretrained backbone. The label sets come from
the data (or `--entity_types` / `--relation_types`). Examples longer than the model's `max_length` subwords are cut
into the pipeline's overlapping windows for training and evaluation (`--long_examples error` lists them all instead),
and what windowing cannot keep is logged per split before the first step. Evaluation decodes and scores with the
shared metric, so `eval_results.json` holds `eval_ner_f1`, `eval_re_f1` and `eval_re_strict_f1` (`test_*` for `--do_predict`). The
output directory holds the model and tokenizer: `pipeline("joint-ie", model=output_dir)` loads it.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field

from transformers import AutoModel, AutoTokenizer, HfArgumentParser, set_seed

import hf_jointie
from hf_jointie.data import check_long_examples, label_sets, load_jointie_dataset, record_locations
from hf_jointie.training import JointIEDataCollator, JointIETrainer, JointIETrainingArguments

logger = logging.getLogger(__name__)


@dataclass
class ModelArguments:
    model_type: str = field(metadata={"help": f"Architecture: one of {sorted(hf_jointie.ARCHITECTURES)}."})
    backbone: str | None = field(
        default=None,
        metadata={"help": "Path or name of a pretrained encoder (and tokenizer) to start from.", "aliases": ["--encoder"]},
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Continue from a saved hf_jointie model instead of a bare backbone."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": 'JSON of architecture config fields, e.g. \'{"nested": false}\' (also applied to a loaded model).'},
    )


@dataclass
class DataArguments:
    dataset_dir: str = field(metadata={"help": "Directory of <split>.jsonl files in the hf_jointie schema."})
    train_split: str = field(default="train")
    eval_split: str = field(default="dev", metadata={"help": "Split for --do_eval (falls back to test if absent)."})
    test_split: str = field(default="test")
    max_train_samples: int | None = field(default=None)
    max_eval_samples: int | None = field(default=None)
    entity_types: str | None = field(default=None, metadata={"help": "Comma-separated; default: from the data."})
    relation_types: str | None = field(default=None, metadata={"help": "Comma-separated; default: from the data."})
    long_examples: str = field(
        default="window",
        metadata={
            "help": "What to do with an example longer than the model's max_length subwords: 'window' splits it into "
            "the pipeline's overlapping windows for training and evaluation (evaluation scores the merged prediction "
            "against the whole example); 'error' lists every such example (file, line, id, length) in one error "
            "before the first step.",
            "choices": ["window", "error"],
        },
    )
    window_stride: int | None = field(
        default=None, metadata={"help": "Words two consecutive windows share (default: a quarter of a window)."}
    )


def _subset(dataset, limit):
    return dataset if limit is None else dataset.select(range(min(limit, len(dataset))))


def report_long_examples(data_args: DataArguments, training_args, data, tokenizer, config) -> None:
    """Measure the splits this run uses against the model's window before the first step: raise one error listing
    every example that cannot be used, and log once, per split, what windowing cuts (see
    `check_long_examples`)."""
    used = {
        data_args.train_split: (training_args.do_train, data_args.max_train_samples),
        data_args.eval_split: (training_args.do_eval, data_args.max_eval_samples),
        data_args.test_split: (training_args.do_predict, data_args.max_eval_samples),
    }
    splits = {name: _subset(data[name], limit) for name, (wanted, limit) in used.items() if wanted and name in data}
    reports = check_long_examples(
        splits, tokenizer, config.max_length, stride=data_args.window_stride,
        allow_windows=data_args.long_examples == "window", locations=record_locations(data_args.dataset_dir),
        count_relations=bool(config.relation_types),
    )
    if training_args.should_log:
        log = logger.warning if any(report.long_examples for report in reports.values()) else logger.info
        log("Long examples: %s", "; ".join(report.summary() for report in reports.values()))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = HfArgumentParser((ModelArguments, DataArguments, JointIETrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(argv)
    training_args.remove_unused_columns = False  # the collator reads the raw rows
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if model_args.model_type not in hf_jointie.ARCHITECTURES:
        raise ValueError(f"--model_type must be one of {sorted(hf_jointie.ARCHITECTURES)}, got {model_args.model_type!r}")
    if (model_args.backbone is None) == (model_args.model_name_or_path is None):
        raise ValueError("Pass exactly one of --backbone (start from an encoder) or --model_name_or_path.")
    set_seed(training_args.seed)

    data = load_jointie_dataset(data_args.dataset_dir)
    if data_args.eval_split not in data and data_args.test_split in data:
        data_args.eval_split = data_args.test_split
    found_entities, found_relations = label_sets(data)
    entity_types = data_args.entity_types.split(",") if data_args.entity_types else found_entities
    relation_types = data_args.relation_types.split(",") if data_args.relation_types else found_relations

    overrides = json.loads(model_args.config_overrides) if model_args.config_overrides else {}
    if model_args.model_name_or_path:
        model = AutoModel.from_pretrained(model_args.model_name_or_path, **overrides)
        if model.config.model_type != model_args.model_type:
            raise ValueError(
                f"{model_args.model_name_or_path} holds a {model.config.model_type!r} model, not {model_args.model_type!r}"
            )
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    else:
        config_class, model_class = hf_jointie.ARCHITECTURES[model_args.model_type]
        if not config_class.predicts_relations:  # entity-only (NAG-NER): the data's relations are not its task
            relation_types = []
        model = model_class.from_encoder_pretrained(
            model_args.backbone, entity_types=entity_types, relation_types=relation_types, **overrides
        )
        tokenizer = AutoTokenizer.from_pretrained(model_args.backbone)
    config = model.config
    report_long_examples(data_args, training_args, data, tokenizer, config)
    collator = JointIEDataCollator(
        tokenizer, config.entity_types, config.relation_types, config.max_length, stride=data_args.window_stride
    )
    trainer = JointIETrainer(
        model=model,
        args=training_args,
        train_dataset=_subset(data[data_args.train_split], data_args.max_train_samples) if training_args.do_train else None,
        eval_dataset=_subset(data[data_args.eval_split], data_args.max_eval_samples) if training_args.do_eval else None,
        data_collator=collator,
        processing_class=tokenizer,
    )
    metrics: dict[str, float] = {}
    if training_args.do_train:
        result = trainer.train()
        trainer.save_model()
        trainer.log_metrics("train", result.metrics)
        trainer.save_metrics("train", result.metrics)
        trainer.save_state()
        metrics.update(result.metrics)
    if training_args.do_eval:
        eval_metrics = trainer.evaluate()
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    if training_args.do_predict:
        test = _subset(data[data_args.test_split], data_args.max_eval_samples)
        test_metrics = trainer.evaluate(test, metric_key_prefix="test")
        trainer.log_metrics("test", test_metrics)
        trainer.save_metrics("test", test_metrics)
        metrics.update(test_metrics)
    if not training_args.do_train and training_args.output_dir:
        trainer.save_model()
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:] or None)
