#!/usr/bin/env python
"""Dev-set sweep of NAG-NER's start threshold tau_s (`config.start_threshold`, Eq. 6) over a trained checkpoint.

The encoder and the start classifier run once per batch; every tau_s of the grid then decodes from the same outputs.
Printed: dev precision / recall / F1 per tau_s, the tau_s with the best dev F1, and test scores at tau_s = the
checkpoint's value and at the dev-best one. Also printed, at the checkpoint's tau_s on dev: how many generated items
align to words with the candidate softmax of `decode` and how many would with an argmax over the whole output
vocabulary (the softmax the model trains with), i.e. the near misses the restriction recovers. Last, on test, which
stage loses the entities: the start classifier's word-level precision / recall, and the decoder's scores when it is
given the gold start words and counts.

    python benchmarks/nag_ner_start_threshold.py --model out/nag_ner-conll04 --dataset_dir ../shared/data/conll04
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

import hf_jointie  # noqa: F401  (registers nag_ner)
from hf_jointie.data import load_jointie_dataset
from hf_jointie.metrics import compute_joint_ie_metrics
from hf_jointie.models.nag_ner.modeling_nag_ner import EOS
from hf_jointie.training import JointIEDataCollator

ROOT = Path(__file__).resolve().parents[1]
GRID = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def forward_batches(model, tokenizer, rows, batch_size: int):
    collator = JointIEDataCollator(tokenizer, model.config.entity_types, [])
    for i in range(0, len(rows), batch_size):
        batch = collator([dict(row, relations=[]) for row in rows[i : i + batch_size]])
        references = batch.pop("references")
        inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "word_index", "word_mask")}
        yield inputs, model(**inputs), references


def scores(model, cached, tau: float) -> dict:
    model.config.start_threshold = tau
    predictions, references = [], []
    for batch, outputs, gold in cached:
        predictions += model.decode(outputs, batch)
        references += gold
    metrics = compute_joint_ie_metrics(predictions, references, model.config.entity_types, [])
    return {key: round(metrics[f"ner_{key}"], 2) for key in ("precision", "recall", "f1")}


def gold_counts(model, batch, gold) -> torch.Tensor:
    """`batch x words`: how many gold entities start at each word (at most `O_max`, what the classifier can say)."""
    counts = torch.zeros_like(batch["word_mask"], dtype=torch.long)
    for row, reference in enumerate(gold):
        for entity in reference["entities"]:
            counts[row, entity["start"]] += 1
    return counts.clamp(max=model.config.max_entities_per_start)


def stages(model, cached) -> dict:
    """Which stage loses the entities, at the checkpoint's tau_s: the start classifier (its word-level precision and
    recall of "an entity starts here", and of the count there) and the decoder alone (the items are the gold
    `(start word, rank)` pairs instead of the classifier's: NER precision / recall / F1 with perfect starts)."""
    words = {"gold": 0, "predicted": 0, "correct": 0, "correct_count": 0}
    predictions, references = [], []
    for batch, outputs, gold in cached:
        counts = gold_counts(model, batch, gold)
        _, rows, starts, _ = model.select_starts(outputs, batch)
        predicted = torch.zeros_like(counts).index_put_((rows, starts), torch.ones_like(rows), accumulate=True)
        words["gold"] += int((counts > 0).sum())
        words["predicted"] += int((predicted > 0).sum())
        words["correct"] += int(((counts > 0) & (predicted > 0)).sum())
        words["correct_count"] += int(((counts > 0) & (predicted == counts)).sum())
        rows, starts, ranks = model.items_from_counts(counts)
        references += gold
        if len(rows) == 0:
            predictions += [{"entities": [], "relations": []} for _ in gold]
            continue
        type_log_probs, mention_log_probs = model.generate_parallel(
            outputs.encoder_hidden_states, outputs.memory_mask, batch["input_ids"], rows,
            batch["word_index"][rows, starts], ranks,
        )
        predictions += model.entities_from_generation(batch, torch.ones(len(rows)), rows, starts, type_log_probs,
                                                      mention_log_probs)
    metrics = compute_joint_ie_metrics(predictions, references, model.config.entity_types, [])
    return {
        "start_words": {**words, "precision": round(100 * words["correct"] / max(words["predicted"], 1), 2),
                        "recall": round(100 * words["correct"] / max(words["gold"], 1), 2)},
        "decoder_with_gold_starts": {key: round(metrics[f"ner_{key}"], 2) for key in ("precision", "recall", "f1")},
    }


def aligned_items(model, cached) -> dict:
    """Items that align with the candidate softmax vs with a whole-vocabulary argmax (same decoder states)."""
    restricted = full = total = 0
    vocab = model.subword_vocab_size
    for batch, outputs, _ in cached:
        _, rows, starts, ranks = model.select_starts(outputs, batch)
        if len(rows) == 0:  # no word opens an entity in this batch: nothing to align
            continue
        inputs = model.decoder_inputs(batch["word_index"][rows, starts], ranks)
        states = model.run_decoder(inputs, outputs.encoder_hidden_states, outputs.memory_mask, rows).last_hidden_state
        candidates = model.mention_candidates(batch["input_ids"], outputs.memory_mask)
        type_log_probs, mention_log_probs = model.candidate_log_probs(states, candidates, rows)
        logits = model.token_logits(states)
        logits[..., vocab : vocab + EOS] = float("-inf")  # the mention slots' old range: subwords and `</s>`
        logits[..., vocab + EOS + 1 :] = float("-inf")
        full_tokens = logits[:, 2:].argmax(-1)
        choice = mention_log_probs.argmax(-1)
        is_eos = choice == batch["input_ids"].size(1)
        tokens = batch["input_ids"][rows].gather(1, choice.clamp(max=batch["input_ids"].size(1) - 1))
        tokens = tokens.masked_fill(is_eos, vocab + EOS)
        entity = type_log_probs.argmax(-1) > 0  # items typed as entities (not `<O>`)
        for generated in (tokens, full_tokens):
            eos = generated == vocab + EOS
            length = torch.where(eos.any(1), eos.float().argmax(1), generated.size(1))
            _, ok = model.align(batch, rows, starts, generated, length)
            ok = ok & (length > 0) & entity
            if generated is tokens:
                restricted += int(ok.sum())
            else:
                full += int(ok.sum())
        total += int(entity.sum())
    return {"entity_items": total, "aligned_candidate_softmax": restricted, "aligned_full_vocabulary": full}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "out" / "nag_ner-conll04")
    parser.add_argument("--dataset_dir", type=Path, default=ROOT.parent / "shared" / "data" / "conll04")
    parser.add_argument("--dev_split", default="dev")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = AutoModel.from_pretrained(args.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    data = load_jointie_dataset(args.dataset_dir, splits=[args.dev_split, "test"])
    trained_tau = model.config.start_threshold
    with torch.inference_mode():
        dev = list(forward_batches(model, tokenizer, list(data[args.dev_split]), args.batch_size))
        curve = {tau: scores(model, dev, tau) for tau in GRID}
        best = max(GRID, key=lambda tau: (curve[tau]["f1"], -abs(tau - trained_tau)))
        model.config.start_threshold = trained_tau
        alignment = aligned_items(model, dev)
        test = list(forward_batches(model, tokenizer, list(data["test"]), args.batch_size))
        result = {
            "model": str(args.model), "dev_curve": {str(tau): value for tau, value in curve.items()},
            "dev_best_tau_s": best, f"test_at_tau_s_{trained_tau}": scores(model, test, trained_tau),
            f"test_at_tau_s_{best}": scores(model, test, best), f"dev_alignment_at_tau_s_{trained_tau}": alignment,
            f"test_stages_at_tau_s_{trained_tau}": stages(model, test),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
