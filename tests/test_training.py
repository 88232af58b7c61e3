"""Trainer glue and the example script: training runs, evaluation decodes, the output dir serves the pipeline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import ENTITY_TYPES, RELATION_TYPES, TOY_ROWS
from transformers import BertModel, pipeline

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


def test_example_script_trains_evaluates_and_saves(tmp_path, backbone_and_data):
    backbone, data = backbone_and_data
    out = tmp_path / "out"
    metrics = run_joint_ie.main([
        "--model_type", "iter", "--backbone", str(backbone), "--dataset_dir", str(data), "--output_dir", str(out),
        "--do_train", "--do_eval", "--do_predict", "--num_train_epochs", "30", "--learning_rate", "3e-3",
        "--per_device_train_batch_size", "4", "--report_to", "none", "--save_strategy", "no", "--seed", "0",
        "--config_overrides", '{"dropout": 0.0}', "--use_cpu",
    ])
    results = json.loads((out / "eval_results.json").read_text())
    for key in ("eval_ner_f1", "eval_re_f1", "eval_re_strict_f1", "eval_loss"):
        assert key in results
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
