#!/usr/bin/env python
"""Rows/s of `python -m hf_jointie.extract` with one and two CPU processes, against calling the pipeline on one
sentence at a time (what a naive user's `for text in texts: ie(text)` or pandas `apply` does).

    python benchmarks/extract_speed.py [--rows 20000] [--model DIR] [--batch_size 64]

All three runs read the same corpus of CoNLL04-like sentences (the generator of `benchmarks/pipeline_memory.py`),
one torch thread per process, each in fresh processes; the two-process run is `accelerate launch --multi_gpu
--num_processes 2` (two CPU processes over gloo on a machine without GPUs). Times are wall clock of the whole command
(start-up and model loading included, as a user sees them); peak memory is the largest `ru_maxrss` of the run's
processes. Without `--model` the model is the tiny random ITER of `pipeline_memory.py` (MiniLM tokenizer): rows/s then
measure the command's own overhead more than a real encoder's cost, so pass a trained directory for a realistic row.
The two-process speed-up needs two idle cores: it is only meaningful on an otherwise quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_memory import build_model, texts  # noqa: E402

NAIVE = """
import json, sys, torch
import hf_jointie
from transformers import pipeline
torch.set_num_threads(1)
ie = pipeline("joint-ie", model=sys.argv[1])
rows = [json.loads(line)["text"] for line in open(sys.argv[2])]
entities = sum(len(ie(text)["entities"]) for text in rows)
print(json.dumps({"rows": len(rows), "entities": entities}))
"""


def timed(command: list[str], env: dict) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds, peak RSS (MB) of the largest process, and the finished process."""
    wrapper = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
               "print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
               "sys.exit(done.returncode)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", wrapper, *command], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    peak = int(done.stderr.rsplit("PEAK", 1)[1].split()[0]) // 1024
    return wall, peak, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--model", help="a saved hf_jointie model directory (default: a tiny random ITER)")
    parser.add_argument("--batch_size", type=int, default=64)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        model = args.model
        if model is None:
            model = str(work / "model")
            build_model(Path(model))
        corpus = work / "corpus.jsonl"
        corpus.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts(args.rows)))
        extract = ["-m", "hf_jointie.extract", "--model", model, "--input", str(corpus), "--batch_size",
                   str(args.batch_size)]
        runs = {
            "extract, 1 process": [sys.executable, *extract, "--output", str(work / "one")],
            "extract, 2 processes": [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                                     "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                                     "--dynamo_backend", "no", *extract, "--output", str(work / "two")],
            "pipeline, one sentence per call": [sys.executable, "-c", NAIVE, model, str(corpus)],
        }
        results = {}
        for name, command in runs.items():
            wall, peak, _ = timed(command, env)
            results[name] = (wall, peak)
            print(f"{name}: {args.rows / wall:.1f} rows/s ({wall:.1f} s), peak RSS {peak} MB", flush=True)
        same = (work / "one" / "predictions.jsonl").read_bytes() == (work / "two" / "predictions.jsonl").read_bytes()
    print(f"\n{args.rows} rows, batch {args.batch_size}, model {args.model or 'tiny random ITER'}; "
          f"1- and 2-process outputs identical: {same}\n")
    print("| run | rows/s | wall (s) | peak RSS (MB) |\n|---|---|---|---|")
    for name, (wall, peak) in results.items():
        print(f"| {name} | {args.rows / wall:.1f} | {wall:.1f} | {peak} |")
    base = results["extract, 1 process"][0]
    print(f"\nspeed-up 2 processes / 1 = {base / results['extract, 2 processes'][0]:.2f}; "
          f"extract (1 process) / one sentence per call = {results['pipeline, one sentence per call'][0] / base:.2f}")


if __name__ == "__main__":
    main()
