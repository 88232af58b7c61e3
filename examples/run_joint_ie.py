#!/usr/bin/env python
"""Train and evaluate any hf_jointie architecture with `Trainer`; runs as is under `accelerate launch`.

    accelerate launch examples/run_joint_ie.py --model_type iter --backbone <path-or-name> \
        --dataset_dir ../shared/data/conll04 --output_dir out/iter-conll04 --do_train --do_eval --do_predict

Every standard `TrainingArguments` flag works (`--num_train_epochs`, `--learning_rate`, ...), plus `--head_learning_rate`,
`--head_weight_decay`, `--head_lr_scheduler_type` and `--head_warmup_steps` for the parameters outside the pretrained
backbone. Every optimiser flag the command line leaves out takes the architecture's recommended value
(`<Config>.training_defaults`: the paper's, corrected by our measurements); `training_setup.json` in the output directory
records which values came from where. On data without overlapping entities an architecture with a `nested` option
decodes flat, and STSN tags plain BIO (`extended_bio`), unless `--config_overrides` says otherwise. BiSPN freezes
its backbone for `freeze_backbone_epochs` (a config field). Examples longer than the model's `max_length` subwords are cut
into the pipeline's overlapping windows for training and evaluation (`--long_examples error` lists them all instead),
and what windowing cannot keep is logged per split before the first step.

The label sets come from the data (or `--entity_types` / `--relation_types`). Evaluation decodes and scores with the
shared metric, so `eval_results.json` holds `eval_ner_f1`, `eval_re_f1` and `eval_re_strict_f1` (`test_*` for
`--do_predict`). `--calibrate_thresholds` sweeps the model's decoding thresholds on the selection split (`--eval_split`,
or `--validation_split_percentage` of the training data) after training and stores the best in the saved config. Model
selection (`--load_best_model_at_end`, calibration) refuses a split that is also trained on (`--train_splits train,dev`)
or the test split. The output directory holds the model and tokenizer: `pipeline("joint-ie", model=output_dir)` loads it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset, concatenate_datasets
from transformers import AutoModel, AutoTokenizer, HfArgumentParser, set_seed

import hf_jointie
from hf_jointie.callbacks import FreezeBackboneCallback
from hf_jointie.data import (
    check_long_examples,
    has_overlapping_entities,
    label_sets,
    load_jointie_dataset,
    record_locations,
)
from hf_jointie.training import (
    CALIBRATION_MIN_GAIN,
    JointIEDataCollator,
    JointIETrainer,
    JointIETrainingArguments,
    calibrate_thresholds,
    default_arguments,
    explicitly_given,
)

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
    train_splits: str = field(
        default="train",
        metadata={"help": "Comma-separated splits to train on, e.g. 'train,dev' for a final model as the STSN paper "
                  "trains it (the selection split must then be another one).", "aliases": ["--train_split"]},
    )
    eval_split: str = field(
        default="dev", metadata={"help": "Selection split: --do_eval, eval during training, --calibrate_thresholds."}
    )
    validation_split_percentage: float | None = field(
        default=None,
        metadata={"help": "Hold this percentage of the training data out as the selection split (for datasets "
                  "without a dev split, e.g. ADE's folds); replaces --eval_split."},
    )
    test_split: str = field(default="test")
    max_train_samples: int | None = field(default=None)
    max_eval_samples: int | None = field(default=None)
    entity_types: str | None = field(default=None, metadata={"help": "Comma-separated; default: from the data."})
    relation_types: str | None = field(default=None, metadata={"help": "Comma-separated; default: from the data."})
    calibrate_thresholds: bool = field(
        default=False,
        metadata={"help": "After training, choose each decoding threshold for --metric_for_best_model on the "
                  "selection split and store it in the saved config (the curves go to the log and to "
                  "threshold_calibration.json)."},
    )
    calibration_min_gain: float = field(
        default=CALIBRATION_MIN_GAIN,
        metadata={"help": "F1 points (of the selection metric) a threshold must gain on the selection split to move; "
                  "smaller gains on a dev split of a few hundred sentences are noise."},
    )
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


def report_long_examples(
    data_args: DataArguments, training_args, splits: dict[str, tuple[Dataset | None, bool]], tokenizer, config
) -> None:
    """Measure the splits this run uses (`name -> (data, used)`) against the model's window before the first step:
    raise one error listing every example that cannot be used, and log once, per split, what windowing cuts (see
    `check_long_examples`). Rows are located by file and line where a split is one file read in order."""
    splits = {name: part for name, (part, used) in splits.items() if used and part is not None}
    locations = record_locations(data_args.dataset_dir)
    trained = [name.strip() for name in data_args.train_splits.split(",") if name.strip()]
    if data_args.validation_split_percentage is None:  # the training rows are the named files, concatenated in order
        locations["train"] = [where for name in trained for where in locations.get(name, [])]
    else:
        locations.pop("train", None)
    reports = check_long_examples(
        splits, tokenizer, config.max_length, stride=data_args.window_stride,
        allow_windows=data_args.long_examples == "window", locations=locations,
        count_relations=bool(config.relation_types),
    )
    if training_args.should_log:
        log = logger.warning if any(report.long_examples for report in reports.values()) else logger.info
        log("Long examples: %s", "; ".join(report.summary() for report in reports.values()))


def parse_arguments(argv: list[str] | None) -> tuple[ModelArguments, DataArguments, JointIETrainingArguments, dict]:
    """Parse `argv`, filling every optimiser flag it leaves out from the architecture's `training_defaults` and the
    selection metric from the architecture (RE+ F1, or NER F1 for an entity-only one). Returns the three argument
    dataclasses and a record of where each of those settings came from."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser((ModelArguments, DataArguments, JointIETrainingArguments))
    model_args, _, _ = parser.parse_args_into_dataclasses(argv)
    if model_args.model_type not in hf_jointie.ARCHITECTURES:
        raise ValueError(f"--model_type must be one of {sorted(hf_jointie.ARCHITECTURES)}, got {model_args.model_type!r}")
    config_class = hf_jointie.ARCHITECTURES[model_args.model_type][0]
    given = explicitly_given(parser, argv)
    defaults = dict(getattr(config_class, "training_defaults", {}))
    defaults.setdefault("metric_for_best_model", "re_strict_f1" if config_class.predicts_relations else "ner_f1")
    filled = default_arguments(defaults, given)
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(filled + argv)
    setup = {
        "model_type": model_args.model_type,
        "from_training_defaults": {name: value for name, value in defaults.items() if name not in given},
        "given": {name: getattr(training_args, name) for name in defaults if name in given},
    }
    return model_args, data_args, training_args, setup


def splits_for(data, data_args: DataArguments, seed: int) -> tuple[Dataset, Dataset | None, str | None]:
    """The training data (the `--train_splits` concatenated), the selection data and its name."""
    names = [name.strip() for name in data_args.train_splits.split(",") if name.strip()]
    missing = [name for name in names if name not in data]
    if missing:
        raise ValueError(f"--train_splits names {missing}, which {data_args.dataset_dir} does not have ({sorted(data)}).")
    train = concatenate_datasets([data[name] for name in names])
    if data_args.validation_split_percentage is not None:
        if not 0 < data_args.validation_split_percentage < 100:
            raise ValueError(f"--validation_split_percentage must lie in (0, 100), got {data_args.validation_split_percentage}.")
        parts = train.train_test_split(test_size=data_args.validation_split_percentage / 100, seed=seed)
        return parts["train"], parts["test"], f"{data_args.validation_split_percentage:g}% of {'+'.join(names)} held out"
    split = data_args.eval_split
    if split not in data:
        if data_args.test_split not in data:
            return train, None, None
        logger.warning("No %r split in %s: evaluating on the test split %r instead, which nothing may be selected on.",
                       split, data_args.dataset_dir, data_args.test_split)
        split = data_args.test_split
    if split in names or split == data_args.test_split:
        role = "trained on (--train_splits)" if split in names else "the test split"
        logger.warning("The evaluation split %r is %s: its scores are not held-out estimates.", split, role)
    return train, data[split], split


def check_selection(data_args: DataArguments, training_args: JointIETrainingArguments, selection_split: str | None):
    """Refuse model selection (best checkpoint, threshold calibration) on a split that is trained on or is the test
    split: its scores would look better than the model is."""
    selects = [flag for flag, on in (("--load_best_model_at_end", training_args.load_best_model_at_end),
                                     ("--calibrate_thresholds", data_args.calibrate_thresholds)) if on]
    if not selects:
        return
    trained = [name.strip() for name in data_args.train_splits.split(",")]
    if selection_split is None:
        raise ValueError(f"{' and '.join(selects)} need a selection split: {data_args.dataset_dir} has no "
                         f"{data_args.eval_split!r}; pass --eval_split or --validation_split_percentage.")
    if selection_split in trained or selection_split == data_args.test_split:
        role = f"also trained on (--train_splits {data_args.train_splits})" if selection_split in trained else "the test split"
        raise ValueError(
            f"{' and '.join(selects)} would select on {selection_split!r}, which is {role}. Select on a held-out split "
            "(--eval_split, --validation_split_percentage) or turn the selection off (--calibrate_thresholds false, "
            "no --load_best_model_at_end)."
        )


def main(argv: list[str] | None = None) -> dict[str, float]:
    model_args, data_args, training_args, setup = parse_arguments(argv)
    training_args.remove_unused_columns = False  # the collator reads the raw rows
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if (model_args.backbone is None) == (model_args.model_name_or_path is None):
        raise ValueError("Pass exactly one of --backbone (start from an encoder) or --model_name_or_path.")
    set_seed(training_args.seed)

    data = load_jointie_dataset(data_args.dataset_dir)
    train_data, selection_data, selection_split = splits_for(data, data_args, training_args.seed)
    check_selection(data_args, training_args, selection_split)
    found_entities, found_relations = label_sets(data)
    entity_types = data_args.entity_types.split(",") if data_args.entity_types else found_entities
    relation_types = data_args.relation_types.split(",") if data_args.relation_types else found_relations

    overrides = json.loads(model_args.config_overrides) if model_args.config_overrides else {}
    config_class, model_class = hf_jointie.ARCHITECTURES[model_args.model_type]
    # fields chosen from the data where the user does not set them: nested decoding, STSN's extended BIO scheme
    from_data = [name for name in ("nested", "extended_bio")
                 if name in {item.name for item in dataclasses.fields(config_class)} and name not in overrides]
    if from_data:
        overlapping = has_overlapping_entities(train_data)
        overrides.update(dict.fromkeys(from_data, overlapping))
        logger.info("Training data %s overlapping entities: %s.", "has" if overlapping else "has no",
                    ", ".join(f"{name}={overlapping}" for name in from_data))
    if model_args.model_name_or_path:
        model = AutoModel.from_pretrained(model_args.model_name_or_path, **overrides)
        if model.config.model_type != model_args.model_type:
            raise ValueError(
                f"{model_args.model_name_or_path} holds a {model.config.model_type!r} model, not {model_args.model_type!r}"
            )
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    else:
        if not config_class.predicts_relations:  # entity-only (NAG-NER): the data's relations are not its task
            relation_types = []
        model = model_class.from_encoder_pretrained(
            model_args.backbone, entity_types=entity_types, relation_types=relation_types, **overrides
        )
        tokenizer = AutoTokenizer.from_pretrained(model_args.backbone)
    config = model.config
    if not config.relation_types and "metric_for_best_model" in setup["from_training_defaults"]:
        # a model without relation types (ITER on GENIA) selects on NER F1, whatever its architecture could do
        training_args.metric_for_best_model = setup["from_training_defaults"]["metric_for_best_model"] = "ner_f1"
    train_data = _subset(train_data, data_args.max_train_samples)
    selection_data = _subset(selection_data, data_args.max_eval_samples) if selection_data is not None else None
    test_data = _subset(data[data_args.test_split], data_args.max_eval_samples) if data_args.test_split in data else None
    report_long_examples(data_args, training_args, {
        "train": (train_data, training_args.do_train),
        selection_split: (selection_data, training_args.do_eval or data_args.calibrate_thresholds),
        data_args.test_split: (test_data, training_args.do_predict),
    }, tokenizer, config)
    collator = JointIEDataCollator(
        tokenizer, config.entity_types, config.relation_types, config.max_length, stride=data_args.window_stride
    )
    trainer = JointIETrainer(
        model=model,
        args=training_args,
        train_dataset=train_data if training_args.do_train else None,
        eval_dataset=selection_data if training_args.do_eval or training_args.load_best_model_at_end else None,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[FreezeBackboneCallback()],  # acts only for configs with `freeze_backbone_epochs` (BiSPN)
    )
    setup.update(train_splits=data_args.train_splits, selection_split=selection_split,
                 selection_metric=training_args.metric_for_best_model, calibrate_thresholds=data_args.calibrate_thresholds)
    logger.info("Training setup: %s", json.dumps(setup, default=str))
    metrics: dict[str, float] = {}
    if training_args.do_train:
        result = trainer.train()
        trainer.log_metrics("train", result.metrics)
        trainer.save_metrics("train", result.metrics)
        trainer.save_state()
        metrics.update(result.metrics)
    calibration = None
    if data_args.calibrate_thresholds:
        calibration = calibrate_thresholds(trainer, selection_data, split=selection_split,
                                           min_gain=data_args.calibration_min_gain)
        logger.info(calibration.report())
        setup["thresholds"] = calibration.after
        if training_args.should_save:
            Path(training_args.output_dir, "threshold_calibration.json").write_text(
                json.dumps(calibration.as_dict(), indent=2)
            )
    trainer.save_model()
    if training_args.should_save:
        Path(training_args.output_dir, "training_setup.json").write_text(json.dumps(setup, indent=2, default=str))
    if training_args.do_eval and selection_data is not None:
        eval_metrics = trainer.evaluate(selection_data)
        calibrated = calibration and eval_metrics.get(f"eval_{calibration.metric}")
        if calibrated is not None and abs(calibrated - calibration.score_after) > 1e-6:
            logger.warning("The evaluation scores %s %.4f, the calibration sweep predicted %.4f: a threshold the "
                           "forward reads was not detected.", calibration.metric, calibrated, calibration.score_after)
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    if training_args.do_predict:
        test_metrics = trainer.evaluate(test_data, metric_key_prefix="test")
        trainer.log_metrics("test", test_metrics)
        trainer.save_metrics("test", test_metrics)
        metrics.update(test_metrics)
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:] or None)
