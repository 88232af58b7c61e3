"""Training that survives real data and real faults: documents longer than the window, kill -9 and resume, several
processes.

Everything runs on tiny random BERT backbones saved in `tmp_path` and generated JSONL data; the multi-process tests
launch `examples/run_joint_ie.py` as two CPU processes (`accelerate launch --multi_gpu --num_processes 2 ...
--use_cpu`), the multi-process setup CI can run (the README says which other setups are not tested here).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ENTITY_TYPES, RELATION_TYPES, TOY_ROWS, overfit, predicting_iter_model
from datasets import Dataset
from safetensors.torch import load_file
from transformers import pipeline

from hf_jointie.metrics import compute_joint_ie_metrics
from hf_jointie.training import JointIEDataCollator, JointIETrainer, JointIETrainingArguments

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "run_joint_ie.py"
sys.path.insert(0, str(SCRIPT.parent))
import run_joint_ie  # noqa: E402
from test_training import backbone_and_data  # noqa: E402,F401  (the tiny backbone saved in tmp_path)

#: A window of 24 subwords (22 for words): every document below needs two or more.
WINDOW = 24

#: `accelerate launch` of the example script as two processes. `--cpu --num_processes 2` starts ONE process unless MPI
#: is set up; `--multi_gpu` starts two through torchrun, and the script's `--use_cpu` makes them CPU processes over
#: gloo, on machines with GPUs too.
LAUNCH_TWO_PROCESSES = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(SCRIPT)]


def concatenate(rows, name):
    """One document made of several sentences of the schema (offsets and relation indices shifted)."""
    document = {"id": name, "tokens": [], "entities": [], "relations": []}
    for row in rows:
        shift, first = len(document["tokens"]), len(document["entities"])
        document["tokens"] += row["tokens"]
        document["entities"] += [{**e, "start": e["start"] + shift, "end": e["end"] + shift} for e in row["entities"]]
        document["relations"] += [{**r, "head": r["head"] + first, "tail": r["tail"] + first} for r in row["relations"]]
    return document


#: Three documents of 27-45 words, each longer than `WINDOW`; one relation spans the first and last sentence.
DOCUMENTS = [concatenate(TOY_ROWS, "doc-0"), concatenate(TOY_ROWS[::-1], "doc-1"), concatenate(TOY_ROWS[1:] * 2, "doc-2")]
DOCUMENTS[0]["relations"].append({"head": 0, "tail": 8, "type": "Work_For"})


def write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture()
def workspace(backbone_and_data):
    """A tiny backbone directory and a dataset directory of sentences and long documents."""
    backbone, data = backbone_and_data
    write_jsonl(data / "train.jsonl", TOY_ROWS * 3 + DOCUMENTS)
    write_jsonl(data / "dev.jsonl", TOY_ROWS[:3] + DOCUMENTS)  # 6 rows: uneven shards are covered below
    return backbone, data


def script_args(backbone: Path, data: Path, output: Path, *extra: str) -> list[str]:
    return [
        "--model_type", "iter", "--backbone", str(backbone), "--dataset_dir", str(data), "--output_dir", str(output),
        "--report_to", "none", "--seed", "0", "--disable_tqdm", "true", "--use_cpu",
        "--config_overrides", json.dumps({"max_length": WINDOW}), *extra,
    ]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1", "HF_HOME": str(cwd / "hf_home")}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def scores(metrics: dict) -> dict:
    """The decoded scores of an evaluation, without timings and the loss."""
    return {k: v for k, v in metrics.items() if k != "epoch" and not k.endswith(("_runtime", "_per_second", "_loss"))}


# --- long documents ------------------------------------------------------------------------------------------------


def test_collator_cuts_long_rows_into_the_pipeline_windows(tokenizer):
    collator = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES, max_length=WINDOW)
    assert "windows" not in collator(TOY_ROWS)  # rows that fit: the batch is as before
    batch = collator([TOY_ROWS[0], DOCUMENTS[0]])
    windows = batch["windows"]
    assert windows[0] == (0, 0) and len(windows) == len(batch["input_ids"]) > 2
    assert int(batch["attention_mask"].sum(1).max()) <= WINDOW
    # the document's windows start where the pipeline's do
    ie_windows = [(1, start) for start, _ in _pipeline_spans(tokenizer, DOCUMENTS[0]["tokens"])]
    assert windows[1:] == ie_windows
    # window-relative gold: the second window's first entity is the document's entity at that offset
    second_start = windows[2][1]
    inside = [e for e in DOCUMENTS[0]["entities"] if e["start"] >= second_start]
    assert batch["entity_labels"][2, 0, :2].tolist() == [inside[0]["start"] - second_start, inside[0]["end"] - second_start]
    # references stay the whole rows, so evaluation scores everything
    assert batch["references"][1]["entities"] == DOCUMENTS[0]["entities"]
    assert batch["references"][1]["relations"] == DOCUMENTS[0]["relations"]


def _pipeline_spans(tokenizer, tokens):
    from hf_jointie.data import window_budget, window_spans, word_lengths

    return window_spans(word_lengths(tokenizer, [tokens])[0], window_budget(tokenizer, WINDOW))


def test_evaluation_scores_the_merged_documents_as_the_pipeline_predicts_them(tmp_path, tokenizer, tiny_bert_config):
    model = predicting_iter_model(tiny_bert_config, max_length=WINDOW)
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    args = JointIETrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True,
                                    remove_unused_columns=False, per_device_eval_batch_size=2)
    collator = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES, max_length=WINDOW)
    trainer = JointIETrainer(model=model, args=args, data_collator=collator)
    predictions, references, _ = trainer.predict_dataset(Dataset.from_list(DOCUMENTS))
    assert references == [{"entities": d["entities"], "relations": d["relations"]} for d in DOCUMENTS]
    ie = pipeline("joint-ie", model=str(tmp_path / "model"))
    expected = ie([{"tokens": d["tokens"]} for d in DOCUMENTS])
    assert sum(len(p["entities"]) for p in predictions) > 0 and sum(len(p["relations"]) for p in predictions) > 0
    for prediction, from_pipeline in zip(predictions, expected):
        assert [(e["start"], e["end"], e["type"]) for e in prediction["entities"]] == [
            (e["start"], e["end"], e["type"]) for e in from_pipeline["entities"]]
        assert [(r["head"], r["tail"], r["type"]) for r in prediction["relations"]] == [
            (r["head"], r["tail"], r["type"]) for r in from_pipeline["relations"]]
    assert scores(trainer.evaluate(Dataset.from_list(DOCUMENTS))) == {
        f"eval_{k}": v for k, v in compute_joint_ie_metrics(expected, DOCUMENTS, ENTITY_TYPES, RELATION_TYPES).items()}


def test_training_on_documents_longer_than_the_window_learns_them(tmp_path, workspace, caplog):
    backbone, data = workspace
    with caplog.at_level("WARNING", logger="run_joint_ie"):
        metrics = run_joint_ie.main(script_args(
            backbone, data, tmp_path / "out", "--do_train", "--do_eval", "--num_train_epochs", "50",
            "--learning_rate", "3e-3", "--head_learning_rate", "3e-3", "--head_lr_scheduler_type", "linear",
            "--warmup_steps", "0", "--head_warmup_steps", "0", "--per_device_train_batch_size", "4", "--save_strategy", "no",
            "--config_overrides", json.dumps({"max_length": WINDOW, "dropout": 0.0})))
    report = [record.getMessage() for record in caplog.records if "Long examples" in record.getMessage()]
    assert len(report) == 1  # reported once, before training, for every split the run uses
    assert "train: 3 of 15 examples are longer than 24 subwords and become 7 overlapping windows" in report[0]
    assert "dev: 3 of 6 examples are longer than 24 subwords" in report[0]
    # the relation between doc-0's first and last sentence shares no window: counted, and scored as a miss
    assert report[0].count("0 gold entities and 1 gold relations fit in no window") == 2
    assert metrics["eval_ner_f1"] > 95.0
    assert metrics["eval_re_strict_f1"] < 100.0


def test_example_script_can_refuse_long_examples_naming_each(tmp_path, workspace):
    backbone, data = workspace
    with pytest.raises(ValueError) as error:
        run_joint_ie.main(script_args(backbone, data, tmp_path / "out", "--do_train", "--do_eval",
                                      "--long_examples", "error"))
    message = str(error.value)
    assert message.startswith("6 example(s) are longer than the model's window of 24 subwords")
    for line, name in ((13, "doc-0"), (14, "doc-1"), (15, "doc-2")):
        assert f"train.jsonl line {line} (id '{name}')" in message
    assert "dev.jsonl line 4 (id 'doc-0'): 30 subwords" in message


def test_iter_trains_on_a_batch_without_entities_or_predicted_brackets(tokenizer, tiny_bert_config):
    # found by the two-process run: one process drew two sentences without entities and crashed at that step
    model = predicting_iter_model(tiny_bert_config)
    with torch.no_grad():
        model.is_l.wo.weight.zero_()  # every is_l logit is 0, not > 0: no word is a predicted left bracket
    model.train()
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES)([TOY_ROWS[3], TOY_ROWS[3]])
    batch.pop("references")
    loss = model(**batch).loss
    loss.backward()
    assert torch.isfinite(loss) and model.lr_score.wo.weight.grad is not None


# --- faults and several processes ----------------------------------------------------------------------------------

#: `run_joint_ie.main` with a callback that kills its own process with SIGKILL right after a checkpoint is written.
KILL_AFTER_CHECKPOINT = """
import sys, os, signal
import torch
from transformers import TrainerCallback
sys.path.insert(0, {examples!r})
import run_joint_ie
torch.set_num_threads(1)

class KillAfterSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == {step}:
            os.kill(os.getpid(), signal.SIGKILL)

class Trainer(run_joint_ie.JointIETrainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_callback(KillAfterSave())

run_joint_ie.JointIETrainer = Trainer
run_joint_ie.main(sys.argv[1:])
"""


def test_kill_9_after_a_checkpoint_and_resume_gives_the_uninterrupted_weights(tmp_path, workspace):
    backbone, data = workspace
    train = ["--do_train", "--max_steps", "24", "--save_strategy", "steps", "--save_steps", "8",
             "--per_device_train_batch_size", "4", "--learning_rate", "3e-3", "--logging_steps", "100"]
    killed = tmp_path / "killed"
    code = KILL_AFTER_CHECKPOINT.format(examples=str(SCRIPT.parent), step=8)
    result = run([sys.executable, "-c", code, *script_args(backbone, data, killed, *train)], tmp_path)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    assert sorted(p.name for p in killed.glob("checkpoint-*")) == ["checkpoint-8"]
    assert not (killed / "model.safetensors").exists()
    run_joint_ie.main(script_args(backbone, data, killed, *train, "--resume_from_checkpoint",
                                  str(killed / "checkpoint-8")))
    full = tmp_path / "full"
    run_joint_ie.main(script_args(backbone, data, full, *train))
    resumed, uninterrupted = load_file(killed / "model.safetensors"), load_file(full / "model.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    initial = load_file(killed / "checkpoint-8" / "model.safetensors")
    assert any(not torch.equal(initial[k], uninterrupted[k]) for k in initial)  # training went on after the kill
    for key in uninterrupted:
        assert torch.equal(resumed[key], uninterrupted[key]), key


def test_two_process_training_and_evaluation_match_one_process(tmp_path, workspace, tokenizer, tiny_bert_config):
    _, data = workspace
    start = tmp_path / "start"  # a model that gets some right, so that equal metrics are not trivially equal zeros
    model = predicting_iter_model(tiny_bert_config, max_length=WINDOW)
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES)(TOY_ROWS)
    batch.pop("references")
    overfit(model, batch, steps=60)
    model.save_pretrained(start)
    tokenizer.save_pretrained(start)
    two = tmp_path / "two"
    common = ["--model_type", "iter", "--model_name_or_path", str(start), "--dataset_dir", str(data),
              "--report_to", "none", "--disable_tqdm", "true", "--use_cpu"]
    result = run(LAUNCH_TWO_PROCESSES + common + [
        "--output_dir", str(two), "--do_train", "--do_eval", "--max_steps", "4", "--save_strategy", "no",
        "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "2", "--learning_rate", "1e-5",
        "--compute_eval_loss", "true",
    ], tmp_path)
    (tmp_path / "stderr.txt").write_text(result.stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((two / "trainer_state.json").read_text())
    # two processes of 2 rows per step: 4 steps are one epoch of the 15 training rows (one process: half an epoch)
    assert state["global_step"] == 4 and state["epoch"] == 1.0
    assert load_file(two / "model.safetensors").keys() == load_file(start / "model.safetensors").keys()
    two_process = json.loads((two / "eval_results.json").read_text())
    assert 0.0 < two_process["eval_ner_f1"] < 100.0
    one_process = run_joint_ie.main([*common[:3], str(two), *common[4:], "--output_dir", str(tmp_path / "one"),
                                     "--do_eval", "--per_device_eval_batch_size", "3", "--compute_eval_loss", "true"])
    assert scores(two_process) == scores(one_process)
    # the loss per input row over both shards (not shard 0's), without the two rows accelerate repeats to even out
    # the last batch (they would add 0.0066 to a summed loss of 288.3)
    assert two_process["eval_loss"] == pytest.approx(one_process["eval_loss"], rel=1e-6)


def test_early_fusion_trains_on_windows_of_long_documents(tokenizer, tiny_bert_config):
    # early fusion re-encodes a window with two markers per entity and two for the subject: its default window is
    # half the encoder's positions, so windowed documents fit with their markers (a full window made 40 subwords)
    from hf_jointie import CascadeSrnConfig, CascadeSrnModel

    encoder = {**tiny_bert_config.to_dict(), "max_position_embeddings": WINDOW}
    config = CascadeSrnConfig(encoder_config=encoder, entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES,
                              fusion="early")
    assert config.max_length == WINDOW // 2
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES, max_length=config.max_length)(DOCUMENTS)
    assert len(batch.pop("windows")) > len(DOCUMENTS)  # the documents were cut into windows
    batch.pop("references")
    loss = CascadeSrnModel(config).train()(**batch).loss
    loss.backward()
    assert torch.isfinite(loss)


@pytest.mark.parametrize("frozen_epochs, backbone_moves", [(0.5, True), (5.0, False)])
def test_two_process_training_freezes_and_unfreezes_the_backbone(tmp_path, backbone_and_data, frozen_epochs,
                                                                 backbone_moves):
    # BiSPN's encoder freeze (FreezeBackboneCallback) flips `requires_grad` after DistributedDataParallel has wrapped
    # the model: both processes must go on training (no reducer waiting for frozen gradients), and the backbone must
    # stay exactly as loaded while frozen
    backbone, data = backbone_and_data
    output = tmp_path / "out"
    result = run(LAUNCH_TWO_PROCESSES + [
        "--model_type", "bispn", "--backbone", str(backbone), "--dataset_dir", str(data), "--output_dir", str(output),
        "--report_to", "none", "--seed", "0", "--disable_tqdm", "true", "--use_cpu", "--do_train",
        "--max_steps", "6", "--save_strategy", "no", "--per_device_train_batch_size", "2", "--learning_rate", "1e-3",
        "--config_overrides", json.dumps({"freeze_backbone_epochs": frozen_epochs, "num_entity_queries": 4,
                                          "num_relation_queries": 4}),
    ], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # 6 steps of 2 x 2 rows are 24 rows: 1.2 epochs of the 20 training rows, so 0.5 unfreezes at step 3
    assert json.loads((output / "trainer_state.json").read_text())["global_step"] == 6
    start, trained = load_file(backbone / "model.safetensors"), load_file(output / "model.safetensors")
    backbone_keys = [key for key in trained if key.startswith("encoder.") and key[len("encoder."):] in start]
    assert backbone_keys
    moved = [key for key in backbone_keys if not torch.equal(trained[key], start[key[len("encoder."):]])]
    assert bool(moved) == backbone_moves, moved[:3]
    assert any(not key.startswith("encoder.") for key in trained)
