#!/usr/bin/env python
"""NAG-NER inference speed: the paper's one parallel decoder pass vs the same model decoding autoregressively.

Both decoders run on the same batches, the same encoder output and the same selected entity starts (Eq. 6), and both
end in the model's alignment to words, so the only difference is the generation loop (the paper's Sect. 4.5 claim):

* NAG: one decoder call with `l_max + 3` mask tokens per item (`NagNerModel.generate_parallel`);
* autoregressive: one decoder call per output slot with a causal self-attention mask and a key/value cache; slot t
  reads the embedding of the token chosen at slot t - 1 (the mask token at slot 0) plus WSPE + NEPE, tokens are chosen
  greedily with the same restrictions as `decode`, and the loop stops once every item has written `</s>`.

The model is trained non-autoregressively, so the autoregressive predictions are not a quality baseline; only time is
compared. Reported: the ratio of end-to-end inference time (encoder + start classifier + generation + alignment) and of
generation time alone, autoregressive / NAG, as medians over `--repeats` interleaved runs.

    python benchmarks/accuracy.py --model_type nag_ner --dataset conll04 ...   # writes out/nag_ner-conll04
    python benchmarks/nag_ner_autoregressive.py --threads 1              # or --model DIR, --quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, DynamicCache, EncoderDecoderCache

import hf_jointie  # noqa: F401  (registers nag_ner)
from hf_jointie.data import encode_words, load_jointie_dataset
from hf_jointie.models.nag_ner.modeling_nag_ner import EOS, MASK, NON_ENTITY, NagNerModel

ROOT = Path(__file__).resolve().parents[1]


def generate_autoregressive(
    model: NagNerModel, encoder_states: torch.Tensor, encoder_mask: torch.Tensor, positions: torch.Tensor,
    ranks: torch.Tensor,
) -> torch.Tensor:
    """Greedy token-by-token decoding of the NAG-NER decoder: `items x slots x output_vocab` log-probabilities."""
    vocab, slots = model.subword_vocab_size, model.config.max_entity_length + 3
    start = model.start_embeddings(positions, ranks)
    word_embeddings, tag_embeddings = model.decoder.get_input_embeddings().weight, model.tag_embeddings.weight
    previous = tag_embeddings[MASK].expand_as(start)
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
    finished = torch.zeros(len(start), dtype=torch.bool)
    steps = []
    for slot in range(slots):
        states = model.run_decoder(
            (previous + start).unsqueeze(1), encoder_states, encoder_mask, causal=True, cache=cache
        ).last_hidden_state
        log_probs = torch.log_softmax(model.token_logits(states[:, 0]), dim=-1)
        steps.append(log_probs)
        allowed = log_probs.clone()
        if slot == 1:
            allowed[:, : vocab + NON_ENTITY] = float("-inf")
        elif slot >= 2:
            allowed[:, vocab : vocab + EOS] = float("-inf")
            allowed[:, vocab + EOS + 1 :] = float("-inf")
        token = allowed.argmax(-1)
        finished |= (slot >= 2) & (token == vocab + EOS)
        if bool(finished.all()):
            break
        previous = torch.where(
            (token < vocab).unsqueeze(1), word_embeddings[token.clamp(max=vocab - 1)], tag_embeddings[(token - vocab).clamp(min=0)]
        )
    result = torch.stack(steps, dim=1)
    if result.size(1) < slots:  # pad finished sequences with `</s>`
        pad = torch.full((len(result), slots - result.size(1), result.size(2)), float("-inf"))
        pad[..., vocab + EOS] = 0.0
        result = torch.cat([result, pad], dim=1)
    return result


def run(model: NagNerModel, batch: dict, autoregressive: bool) -> tuple[list, float, float]:
    """Inference on one batch; returns the predictions, the total time and the generation time."""
    begin = time.perf_counter()
    outputs = model(**batch)
    start_probs, rows, starts, ranks = model.select_starts(outputs, batch)
    inputs = (outputs.encoder_hidden_states[rows], outputs.memory_mask[rows], batch["word_index"][rows, starts], ranks)
    generation_begin = time.perf_counter()
    if autoregressive:
        log_probs = generate_autoregressive(model, *inputs)
    else:
        log_probs = model.generate_parallel(*inputs)
    generation_time = time.perf_counter() - generation_begin
    predictions = model.entities_from_generation(batch, start_probs, rows, starts, log_probs)
    return predictions, time.perf_counter() - begin, generation_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "out" / "nag_ner-conll04",
                        help="a saved nag_ner model with its tokenizer (default: what benchmarks/accuracy.py writes)")
    parser.add_argument("--dataset_dir", type=Path, default=ROOT.parent / "shared" / "data" / "conll04")
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--num_batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="4 batches, 1 repeat.")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.num_batches, args.repeats = 4, 1
    torch.manual_seed(0)
    model = AutoModel.from_pretrained(args.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    rows = load_jointie_dataset(args.dataset_dir, splits=[args.split])[args.split]
    rows = rows.select(range(min(len(rows), args.batch_size * args.num_batches)))
    batches = [
        encode_words(tokenizer, rows[i : i + args.batch_size]["tokens"]) for i in range(0, len(rows), args.batch_size)
    ]
    times = {"nag": [], "autoregressive": []}
    generation = {"nag": [], "autoregressive": []}
    items = 0
    with torch.inference_mode():
        for batch in batches[:1]:  # warm-up
            run(model, batch, False), run(model, batch, True)
        for _ in range(args.repeats):
            for name in ("nag", "autoregressive"):
                total, gen = 0.0, 0.0
                for batch in batches:
                    _, seconds, generation_seconds = run(model, batch, name == "autoregressive")
                    total, gen = total + seconds, gen + generation_seconds
                times[name].append(total)
                generation[name].append(gen)
        for batch in batches:
            items += len(model.select_starts(model(**batch), batch)[1])
    result = {
        "model": str(args.model), "dataset": f"{args.dataset_dir.name}:{args.split}", "sentences": len(rows),
        "batches": len(batches), "decoded_items": items, "threads": torch.get_num_threads(),
        "nag_seconds": statistics.median(times["nag"]),
        "autoregressive_seconds": statistics.median(times["autoregressive"]),
        "end_to_end_speedup": statistics.median(times["autoregressive"]) / statistics.median(times["nag"]),
        "generation_speedup": statistics.median(generation["autoregressive"]) / statistics.median(generation["nag"]),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
