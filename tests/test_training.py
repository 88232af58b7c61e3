"""Trainer glue and the example script: training runs, evaluation decodes, the output dir serves the pipeline."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import ENTITY_TYPES, RELATION_TYPES, TOY_ROWS, overfit, strip_scores
from transformers import BertModel, pipeline

from hf_jointie.training import ThresholdCalibration

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import run_joint_ie  # noqa: E402


@pytest.fixture()
def backbone_and_data(tmp_path, tokenizer, tiny_bert_config):
    torch.manual_seed(0)
    backbone = tmp_path / "backbone"
    BertModel(tiny_bert_config).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "dev", "test"):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in TOY_ROWS * 4))
    return backbone, data


#: Settings that fit ITER to the toy rows in a few seconds (both parameter groups alike).
TOY_TRAINING = [
    "--model_type", "iter", "--do_train", "--do_eval", "--num_train_epochs", "30", "--learning_rate", "3e-3",
    "--head_learning_rate", "3e-3", "--head_lr_scheduler_type", "linear", "--per_device_train_batch_size", "4",
    "--report_to", "none", "--save_strategy", "no", "--seed", "0", "--use_cpu",
]


def test_example_script_trains_evaluates_and_saves(tmp_path, backbone_and_data):
    backbone, data = backbone_and_data
    out = tmp_path / "out"
    metrics = run_joint_ie.main([
        *TOY_TRAINING, "--backbone", str(backbone), "--dataset_dir", str(data), "--output_dir", str(out),
        "--do_predict", "--config_overrides", '{"dropout": 0.0}',
    ])
    results = json.loads((out / "eval_results.json").read_text())
    for key in ("eval_ner_f1", "eval_re_f1", "eval_re_strict_f1"):
        assert key in results
    assert "eval_loss" not in results  # compute_eval_loss is off by default
    assert metrics["eval_ner_f1"] == results["eval_ner_f1"] > 90.0
    assert json.loads((out / "test_results.json").read_text())["test_re_strict_f1"] > 50.0
    ie = pipeline("joint-ie", model=str(out))
    assert ie.model.config.entity_types == ENTITY_TYPES and ie.model.config.relation_types == RELATION_TYPES
    assert [e["text"] for e in ie("John Smith lives in Boston.")["entities"]] == ["John Smith", "Boston"]


def test_example_script_rejects_bad_arguments(tmp_path, backbone_and_data):
    backbone, data = backbone_and_data
    with pytest.raises(ValueError, match="--model_type must be one of"):
        run_joint_ie.main(["--model_type", "nope", "--backbone", str(backbone), "--dataset_dir", str(data),
                           "--output_dir", str(tmp_path / "x")])
    with pytest.raises(ValueError, match="exactly one of --backbone"):
        run_joint_ie.main(["--model_type", "iter", "--dataset_dir", str(data), "--output_dir", str(tmp_path / "x")])


def test_head_learning_rate_puts_the_heads_in_their_own_parameter_groups(tmp_path, tiny_bert_config):
    from hf_jointie import IterConfig, IterModel
    from hf_jointie.training import JointIETrainer, JointIETrainingArguments

    model = IterModel(IterConfig(encoder_config=tiny_bert_config, entity_types=ENTITY_TYPES,
                                 relation_types=RELATION_TYPES))
    args = JointIETrainingArguments(output_dir=str(tmp_path), learning_rate=1e-5, weight_decay=0.05,
                                    head_learning_rate=1e-3, head_weight_decay=0.2, report_to="none", use_cpu=True)
    optimizer = JointIETrainer(model=model, args=args).create_optimizer()
    settings = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            settings[names[id(parameter)]] = (group["lr"], group["weight_decay"])
    assert len(settings) == len(names)
    assert settings["encoder.encoder.layer.0.attention.self.query.weight"] == (1e-5, 0.05)
    assert settings["encoder.encoder.layer.0.attention.self.query.bias"] == (1e-5, 0.0)
    assert settings["lr_score.wi.weight"] == (1e-3, 0.2)  # ITER's heads are bias-free, as the authors' are
    # without the head options the plain Trainer optimiser is used: one learning rate everywhere
    plain = JointIETrainer(model=model, args=JointIETrainingArguments(
        output_dir=str(tmp_path), learning_rate=1e-5, report_to="none", use_cpu=True)).create_optimizer()
    assert {group["lr"] for group in plain.param_groups} == {1e-5}


def test_collator_ignores_relations_for_an_entity_only_model_but_rejects_unknown_labels(tokenizer):
    from hf_jointie.training import JointIEDataCollator

    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, [])(TOY_ROWS[:2])
    assert (batch["relation_labels"] == -1).all()
    assert batch["references"][1]["relations"] == TOY_ROWS[1]["relations"]  # scored as usual
    with pytest.raises(ValueError, match="unknown relation type 'Live_In'"):
        JointIEDataCollator(tokenizer, ENTITY_TYPES, ["Work_For"])(TOY_ROWS[:1])


def test_evaluation_without_the_loss_pass_decodes_the_same(tmp_path, tokenizer, tiny_bert_config):
    from datasets import Dataset

    from hf_jointie import IterConfig, IterModel
    from hf_jointie.training import JointIEDataCollator, JointIETrainer, JointIETrainingArguments

    torch.manual_seed(0)
    model = IterModel(IterConfig(encoder_config=tiny_bert_config, entity_types=ENTITY_TYPES,
                                 relation_types=RELATION_TYPES, threshold=0.2))
    collator = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES)
    data = Dataset.from_list(TOY_ROWS)
    results = {}
    for with_loss in (True, False):
        args = JointIETrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True,
                                        remove_unused_columns=False, compute_eval_loss=with_loss)
        trainer = JointIETrainer(model=model, args=args, data_collator=collator, eval_dataset=data)
        results[with_loss] = trainer.evaluate()
    assert "eval_loss" in results[True] and "eval_loss" not in results[False]
    assert results[True]["eval_ner_precision"] > 0.0  # the thresholds make the random model predict something
    for key in ("eval_ner_precision", "eval_ner_f1", "eval_re_f1"):
        assert results[True][key] == results[False][key]


#: A random Cascade-SRN starts at its 0.01 prior everywhere, below every grid value: start it at 0.5 instead.
ARCHITECTURE_OPTIONS = {"cascade_srn": {"fusion": "late", "prior_probability": 0.5}}
#: A random NAG-NER decoder writes no mention that aligns with the input: it is fitted to the toy rows first.
FIT_STEPS = {"nag_ner": 60}


def _batch(tokenizer, config, rows=TOY_ROWS):
    from hf_jointie.training import LABEL_KEYS, JointIEDataCollator

    batch = JointIEDataCollator(tokenizer, config.entity_types, config.relation_types)(rows)
    return {key: value for key, value in batch.items() if key not in LABEL_KEYS and key != "references"}


@pytest.mark.parametrize("model_type", ["iter", "stsn", "cascade_srn", "bispn", "nag_ner"])
def test_every_architecture_decodes_with_the_thresholds_of_its_config(model_type, tokenizer, tiny_bert_config):
    """What calibration relies on: each `*_threshold` config field is read by `decode` (or the forward), so setting
    it on the config changes the predictions; probed at the calibration grid's extremes, the other thresholds at
    either extreme too (a random model predicts entities only at some settings)."""
    import hf_jointie
    from hf_jointie.training import CALIBRATION_GRID, overridden, threshold_names

    config_class, model_class = hf_jointie.ARCHITECTURES[model_type]
    torch.manual_seed(0)
    config = config_class(encoder_config=tiny_bert_config, entity_types=ENTITY_TYPES,
                          relation_types=RELATION_TYPES if config_class.predicts_relations else [],
                          **ARCHITECTURE_OPTIONS.get(model_type, {}))
    model = model_class(config)
    if model_type in FIT_STEPS:
        from hf_jointie.training import JointIEDataCollator

        labelled = JointIEDataCollator(tokenizer, config.entity_types, config.relation_types)(TOY_ROWS)
        labelled.pop("references")
        overfit(model, labelled, steps=FIT_STEPS[model_type])
    model.eval()
    batch = _batch(tokenizer, config)
    names = threshold_names(config)
    assert names, f"{model_type} exposes no decoding threshold"
    extremes = (min(CALIBRATION_GRID), max(CALIBRATION_GRID))

    def predictions(values):
        with torch.inference_mode(), overridden(config, values):
            return [strip_scores(p) for p in model.decode(model(**batch), batch)]

    import itertools

    for name in names:
        others = [other for other in names if other != name]
        assert any(
            predictions({**dict(zip(others, setting)), name: extremes[0]})
            != predictions({**dict(zip(others, setting)), name: extremes[1]})
            for setting in itertools.product(extremes, repeat=len(others))
        ), f"{model_type}: setting config.{name} does not change decoding"


def test_calibration_corrects_a_planted_threshold_and_the_saved_config_keeps_it(tmp_path, backbone_and_data):
    backbone, data = backbone_and_data
    out = tmp_path / "out"
    metrics = run_joint_ie.main([
        *TOY_TRAINING, "--backbone", str(backbone), "--dataset_dir", str(data), "--output_dir", str(out),
        "--calibrate_thresholds",
        "--config_overrides", '{"dropout": 0.0, "threshold": 1.0}',  # planted: no span can pass it
    ])
    calibration = json.loads((out / "threshold_calibration.json").read_text())
    assert calibration["metric"] == "re_strict_f1" and calibration["split"] == "dev"
    assert calibration["before"]["threshold"] == 1.0 and calibration["score_before"] == 0.0
    assert calibration["after"]["threshold"] < 1.0 and calibration["score_after"] > 50.0
    curve = dict(map(tuple, calibration["curves"]["threshold"]))
    assert curve[1.0] == 0.0 and max(curve.values()) == calibration["score_after"]
    saved = json.loads((out / "config.json").read_text())
    assert saved["threshold"] == calibration["after"]["threshold"]
    # ITER's forward reads no threshold (is_l fires at logit > 0, as the authors' code); the evaluation after
    # calibration (a forward at the chosen values) agrees with the sweep
    assert calibration["forward_thresholds"] == []
    assert metrics["eval_re_strict_f1"] == pytest.approx(calibration["score_after"])


class _ScoredSpans(torch.nn.Module):
    """A stand-in model: row i's candidate spans carry fixed scores; `decode` keeps those above
    `config.entity_threshold`, and the forward keeps only candidates above `config.forward_threshold`."""

    @dataclasses.dataclass
    class Config:
        entity_threshold: float = 0.9
        forward_threshold: float = 0.0
        entity_types: tuple = ("Loc",)
        relation_types: tuple = ()
        name: str = "not a threshold"

    def __init__(self):
        super().__init__()
        self.config = self.Config()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.forward_calls = 0
        # the gold span scores 0.7, a wrong one 0.4
        self.scores = torch.tensor([[0.7, 0.4]])

    def forward(self, row):
        self.forward_calls += 1
        scores = self.scores[row] + 0 * self.weight
        return {"scores": scores.masked_fill(scores <= self.config.forward_threshold, 0.0)}

    def decode(self, outputs, batch):
        keep = outputs["scores"] > self.config.entity_threshold
        return [{"entities": [{"start": j, "end": j + 1, "type": "Loc"} for j in row.nonzero().flatten().tolist()],
                 "relations": []} for row in keep]


def _calibrate_scored_spans(tmp_path, **options) -> tuple[_ScoredSpans, ThresholdCalibration]:
    """[`calibrate_thresholds`] for NER F1 of a fresh [`_ScoredSpans`] on three copies of row 0 (gold span 0)."""
    from datasets import Dataset

    from hf_jointie.training import JointIETrainer, JointIETrainingArguments, calibrate_thresholds

    model = _ScoredSpans()
    rows = [{"row": 0, "entities": [{"start": 0, "end": 1, "type": "Loc"}], "relations": []}] * 3

    def collate(items):
        return {"row": torch.tensor([item["row"] for item in items]), "references": [
            {"entities": item["entities"], "relations": item["relations"]} for item in items]}

    args = JointIETrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True,
                                    remove_unused_columns=False, per_device_eval_batch_size=3)
    trainer = JointIETrainer(model=model, args=args, data_collator=collate)
    return model, calibrate_thresholds(trainer, Dataset.from_list(rows), metric="ner_f1", **options)


def test_calibration_runs_the_forward_once_for_thresholds_only_decode_reads(tmp_path):
    model, result = _calibrate_scored_spans(tmp_path)
    assert result.before == {"entity_threshold": 0.9, "forward_threshold": 0.0}
    assert result.score_before == 0.0 and result.score_after == 100.0
    # 0.4, 0.5 and 0.6 all score 100: the tie goes to the value nearest the planted 0.9
    assert result.after["entity_threshold"] == 0.6 == model.config.entity_threshold
    assert dict(result.curves["entity_threshold"])[0.3] == pytest.approx(2 / 3 * 100)
    # each threshold is probed on the first batch (two forwards); the one the forward reads is checked for a covering
    # value (a first-batch forward per value); decoding does not re-apply it, so none covers and its sweep runs a
    # forward per value, while the decode-only one re-decodes the cached outputs
    assert result.forward_thresholds == ["forward_threshold"] and result.covering_forward == {}
    values = len(result.curves["forward_threshold"])
    assert model.forward_calls == 2 * 2 + values + 1 + (values - 1)


def test_calibration_tries_zero_only_where_the_config_allows_it(tmp_path, monkeypatch):
    # Cascade-SRN's threshold 0 accepts every span (and, nested, every pair of them): its calibration starts above 0
    from hf_jointie import CascadeSrnConfig, IterConfig

    assert CascadeSrnConfig.calibrate_at_zero is False and IterConfig.calibrate_at_zero is True
    _, default = _calibrate_scored_spans(tmp_path)
    assert 0.0 in dict(default.curves["entity_threshold"])
    monkeypatch.setattr(_ScoredSpans.Config, "calibrate_at_zero", False, raising=False)
    _, positive = _calibrate_scored_spans(tmp_path)
    values = [value for value, _ in positive.curves["entity_threshold"]]
    assert values[0] == 0.05 and 0.0 not in values
    assert positive.after == default.after


def test_calibration_moves_a_threshold_only_for_more_than_the_minimum_gain(tmp_path):
    """A gain of at most `min_gain` points leaves the threshold where it was (dev noise); a larger one moves it."""
    from hf_jointie.training import CALIBRATION_MIN_GAIN

    assert CALIBRATION_MIN_GAIN > 0
    # the planted 0.9 scores 0, the best values 100: a gain of exactly 100 is not more than 100
    _, kept = _calibrate_scored_spans(tmp_path, min_gain=100.0)
    assert kept.after == kept.before and kept.score_after == kept.score_before == 0.0
    assert max(score for _, score in kept.curves["entity_threshold"]) == 100.0
    _, moved = _calibrate_scored_spans(tmp_path, min_gain=99.9)
    assert moved.after["entity_threshold"] == 0.6 and moved.score_after == 100.0
    assert "gain > 99.9" in moved.report()


def _iter_model(tiny_bert_config):
    from hf_jointie import IterConfig, IterModel

    return IterModel(IterConfig(encoder_config=tiny_bert_config, entity_types=ENTITY_TYPES,
                                relation_types=RELATION_TYPES))


def _group_lrs(trainer):
    return {group["part"]: group["lr"] for group in trainer.optimizer.param_groups}


def test_backbone_and_heads_follow_their_own_schedule_type_and_warmup(tmp_path, tiny_bert_config):
    from hf_jointie.training import JointIETrainer, JointIETrainingArguments

    args = JointIETrainingArguments(
        output_dir=str(tmp_path), report_to="none", use_cpu=True, learning_rate=1e-4, lr_scheduler_type="linear",
        warmup_steps=0.2, head_learning_rate=4e-4, head_lr_scheduler_type="constant_with_warmup",
        head_warmup_steps=0.01,
    )
    trainer = JointIETrainer(model=_iter_model(tiny_bert_config), args=args)
    trainer.create_optimizer()
    scheduler = trainer.create_scheduler(num_training_steps=100)
    seen = {}
    for step in range(101):
        seen[step] = _group_lrs(trainer)
        trainer.optimizer.step()
        scheduler.step()
    # backbone: linear warm-up over 20 steps, then linear decay to 0 at step 100
    assert seen[10]["backbone"] == pytest.approx(0.5e-4) and seen[20]["backbone"] == pytest.approx(1e-4)
    assert seen[60]["backbone"] == pytest.approx(0.5e-4) and seen[100]["backbone"] == pytest.approx(0.0)
    # heads: one warm-up step (1% of 100), then constant
    assert seen[0]["heads"] == 0.0 and seen[1]["heads"] == seen[60]["heads"] == seen[100]["heads"] == 4e-4
    # the scheduler state round-trips (what a checkpoint stores and resume loads)
    state = scheduler.state_dict()
    resumed = JointIETrainer(model=_iter_model(tiny_bert_config), args=args)
    resumed.create_optimizer()
    resumed.create_scheduler(num_training_steps=100).load_state_dict(state)
    assert resumed.lr_scheduler.get_last_lr() == scheduler.get_last_lr()


def test_training_resumed_from_a_checkpoint_continues_both_schedules(tmp_path, tokenizer, tiny_bert_config):
    from datasets import Dataset

    from hf_jointie.training import JointIEDataCollator, JointIETrainer, JointIETrainingArguments

    collator = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES)
    data = Dataset.from_list(TOY_ROWS * 2)
    final = {}
    for run, resume in (("straight", None), ("resumed", "checkpoint-2")):
        torch.manual_seed(0)
        args = JointIETrainingArguments(
            output_dir=str(tmp_path / run), report_to="none", use_cpu=True, remove_unused_columns=False,
            max_steps=4, save_strategy="steps", save_steps=2, per_device_train_batch_size=2,
            learning_rate=1e-3, lr_scheduler_type="linear", warmup_steps=2, head_learning_rate=4e-3,
            head_lr_scheduler_type="constant_with_warmup", head_warmup_steps=1, seed=0,
        )
        trainer = JointIETrainer(model=_iter_model(tiny_bert_config), args=args, data_collator=collator,
                                 train_dataset=data)
        if resume:  # the checkpoint of the straight run, copied: the resumed run starts at step 2
            import shutil

            shutil.copytree(tmp_path / "straight" / resume, tmp_path / run / resume)
            trainer.train(resume_from_checkpoint=str(tmp_path / run / resume))
        else:
            trainer.train()
        final[run] = (_group_lrs(trainer), trainer.lr_scheduler.last_epoch)
    assert final["resumed"] == final["straight"]
    assert final["straight"][0]["heads"] == 4e-3  # constant after its one warm-up step


def test_architecture_defaults_fill_only_the_flags_the_user_leaves_out(tmp_path, backbone_and_data):
    from hf_jointie import IterConfig

    backbone, data = backbone_and_data
    argv = ["--model_type", "iter", "--backbone", str(backbone), "--dataset_dir", str(data), "--output_dir",
            str(tmp_path), "--learning_rate=3e-5"]
    _, _, args, setup = run_joint_ie.parse_arguments(argv)
    defaults = IterConfig.training_defaults
    assert args.learning_rate == 3e-5 and setup["given"] == {"learning_rate": 3e-5}  # the user's value stays
    assert args.head_learning_rate == defaults["head_learning_rate"] == 4e-4  # Table 7, heads
    assert args.lr_scheduler_type.value == "linear" and args.head_lr_scheduler_type == "constant_with_warmup"
    assert (args.warmup_steps, args.head_warmup_steps) == (0.2, 0.01)
    assert (args.weight_decay, args.head_weight_decay) == (0.070, 0.133)
    assert args.metric_for_best_model == "re_strict_f1" and "learning_rate" not in setup["from_training_defaults"]
    _, _, ner_args, _ = run_joint_ie.parse_arguments(["--model_type", "nag_ner", "--backbone", str(backbone),
                                                      "--dataset_dir", str(data), "--output_dir", str(tmp_path)])
    assert ner_args.metric_for_best_model == "ner_f1"


@pytest.mark.parametrize("model_type", ["iter", "stsn", "cascade_srn", "bispn", "nag_ner"])
def test_every_architecture_recommends_settings_for_both_parameter_groups(model_type):
    import hf_jointie
    from hf_jointie.training import JointIETrainingArguments

    defaults = hf_jointie.ARCHITECTURES[model_type][0].training_defaults
    fields = {item.name for item in dataclasses.fields(JointIETrainingArguments)}
    assert set(defaults) <= fields
    for setting in ("learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay"):
        assert setting in defaults and f"head_{setting}" in defaults
    assert {"num_train_epochs", "per_device_train_batch_size"} <= set(defaults)


def test_selection_on_a_trained_or_test_split_is_refused(tmp_path, backbone_and_data):
    backbone, data = backbone_and_data
    base = ["--model_type", "iter", "--backbone", str(backbone), "--dataset_dir", str(data), "--output_dir",
            str(tmp_path / "x"), "--report_to", "none", "--use_cpu"]
    with pytest.raises(ValueError, match=r"select on 'dev', which is also trained on \(--train_splits train,dev\)"):
        run_joint_ie.main(base + ["--train_splits", "train,dev", "--calibrate_thresholds"])
    with pytest.raises(ValueError, match="'test', which is the test split"):
        run_joint_ie.main(base + ["--eval_split", "test", "--load_best_model_at_end", "--eval_strategy", "epoch",
                                  "--save_strategy", "epoch"])
    with pytest.raises(ValueError, match="--train_splits names \\['nope'\\]"):
        run_joint_ie.main(base + ["--train_splits", "train,nope"])


def test_train_splits_concatenate_and_the_setup_records_the_selection_split(tmp_path, backbone_and_data, caplog):
    backbone, data = backbone_and_data
    out = tmp_path / "out"
    with caplog.at_level("WARNING"):
        run_joint_ie.main([
            "--model_type", "iter", "--backbone", str(backbone), "--dataset_dir", str(data), "--output_dir", str(out),
            "--train_splits", "train,dev", "--do_train", "--do_eval", "--max_steps", "1", "--report_to", "none",
            "--save_strategy", "no", "--use_cpu",
        ])
    assert "The evaluation split 'dev' is trained on (--train_splits)" in caplog.text
    setup = json.loads((out / "training_setup.json").read_text())
    assert setup["train_splits"] == "train,dev" and setup["selection_split"] == "dev"
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["train_batch_size"] == 8  # the architecture's default batch size: 32 rows (train + dev) = 4 steps/epoch
    held_out = tmp_path / "held_out"
    run_joint_ie.main([
        "--model_type", "iter", "--backbone", str(backbone), "--dataset_dir", str(data), "--output_dir",
        str(held_out), "--validation_split_percentage", "25", "--do_train", "--max_steps", "1", "--report_to", "none",
        "--save_strategy", "no", "--use_cpu", "--calibrate_thresholds",
    ])
    assert json.loads((held_out / "training_setup.json").read_text())["selection_split"] == "25% of train held out"


def test_a_head_schedule_that_does_not_exist_is_named(tmp_path):
    from hf_jointie.training import JointIETrainingArguments

    with pytest.raises(ValueError, match="--head_lr_scheduler_type 'linaer' is not a schedule type"):
        JointIETrainingArguments(output_dir=str(tmp_path), head_lr_scheduler_type="linaer")


def test_a_model_without_relation_types_selects_and_calibrates_on_ner_f1(tmp_path, backbone_and_data):
    # ITER on NER-only data (GENIA): RE+ F1 is 0 whatever the thresholds, so selecting on it would choose nothing
    backbone, data = backbone_and_data
    for split in ("train", "dev", "test"):
        rows = [{**row, "relations": []} for row in TOY_ROWS * 4]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out"
    run_joint_ie.main([*TOY_TRAINING, "--backbone", str(backbone), "--dataset_dir", str(data), "--output_dir", str(out),
                       "--num_train_epochs", "1", "--calibrate_thresholds"])
    assert json.loads((out / "config.json").read_text())["relation_types"] == []
    assert json.loads((out / "training_setup.json").read_text())["selection_metric"] == "ner_f1"
    assert json.loads((out / "threshold_calibration.json").read_text())["metric"] == "ner_f1"
