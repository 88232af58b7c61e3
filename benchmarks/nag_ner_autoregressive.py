#!/usr/bin/env python
"""NAG-NER inference speed the paper's way (Sect. 4.5, Table 6): NAG-NER end to end against an autoregressive seq2seq
extractor that writes all entities of a sentence as one sequence, and against the bare encoder.

Three systems on the same sentences and the same batches (CoNLL04 test, batch 8, pre-tokenized), in one process:

* `encoder`: the NAG-NER model's encoder forward alone (the ceiling of any extractor on this backbone);
* `nag_ner`: the trained model end to end: encoder, start classifier, one parallel decoder pass for all
  (start, rank) items, the candidate softmax, alignment to words and the predictions (`model(**batch)` + `decode`);
* `autoregressive`: the paper's baseline family (BART-NER of Yan et al. 2021, the seq2seq model the paper compares
  with): the same encoder, then a decoder of the same size as NAG-NER's (a copy of its config: layers, hidden size,
  heads, cross-attention; causal self-attention) that writes the sentence's entities as one sequence
  `subwords(e_1) TYPE(e_1) subwords(e_2) TYPE(e_2) ... </s>`, greedily, one token per step with a key/value cache
  (cross-attention keys/values projected once, as transformers' cache does). Its output layer is the pointer head of
  Yan et al.: per step a softmax over the sentence's subwords, the entity types and `</s>` (the same restricted
  output NAG-NER's inference uses, so the head costs the same per slot). Its weights are random (speed does not depend
  on them), so it cannot decide when to stop: each sentence generates exactly as many tokens as its gold
  linearisation has (a trained model stops there), and a batch runs until its longest sequence is done, as batched
  greedy decoding does.

NAG-NER's decoding workload is its own (trained model, `config.start_threshold`); the number of items it decodes and
the gold number of entities are printed. Reported: sentences/s of each system (median of `--repeats` interleaved runs)
and the ratios `nag_ner / autoregressive` and `nag_ner / encoder`.

    python benchmarks/nag_ner_autoregressive.py --model out/nag_ner-conll04 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, DynamicCache, EncoderDecoderCache

import hf_jointie  # noqa: F401  (registers nag_ner)
from hf_jointie.data import load_jointie_dataset
from hf_jointie.models.nag_ner.modeling_nag_ner import NagNerModel, word_subword_ends
from hf_jointie.training import JointIEDataCollator

ROOT = Path(__file__).resolve().parents[1]


class AutoregressiveExtractor(nn.Module):
    """Decoder of the seq2seq baseline: NAG-NER's decoder configuration with causal self-attention, a pointer output
    over the sentence's subwords plus the types and `</s>`, greedy with a key/value cache."""

    def __init__(self, model: NagNerModel):
        super().__init__()
        config = copy.deepcopy(model.config.decoder_config)
        config.is_decoder, config.add_cross_attention = True, True
        self.decoder = AutoModel.from_config(config)
        self.decoder.pooler = None
        hidden = config.hidden_size
        self.tags = nn.Embedding(model.config.num_entity_types + 1, hidden)  # the types, then `</s>`
        self.start = nn.Parameter(torch.randn(hidden) * 0.02)

    @torch.inference_mode()
    def generate(self, memory: torch.Tensor, memory_mask: torch.Tensor, input_ids: torch.Tensor, steps: int):
        """`steps` greedy tokens for every sentence: `batch x steps` pointer choices (subword positions, then tags)."""
        word_embeddings = self.decoder.get_input_embeddings()
        candidates = torch.cat([word_embeddings(input_ids), self.tags.weight.expand(len(input_ids), -1, -1)], dim=1)
        allowed = torch.cat([memory_mask.bool(), memory_mask.new_ones(len(input_ids), len(self.tags.weight)).bool()], 1)
        previous = self.start.expand(len(input_ids), 1, -1)
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        chosen = []
        for _ in range(steps):
            states = self.decoder(
                inputs_embeds=previous, encoder_hidden_states=memory, encoder_attention_mask=memory_mask,
                cache=cache, use_cache=True,
            ).last_hidden_state
            logits = torch.bmm(states, candidates.transpose(1, 2)).masked_fill(~allowed.unsqueeze(1), float("-inf"))
            choice = torch.log_softmax(logits, dim=-1).argmax(-1)
            chosen.append(choice)
            previous = candidates.gather(1, choice.unsqueeze(-1).expand(-1, -1, candidates.size(-1)))
        return torch.cat(chosen, dim=1)


def linearisation_lengths(batch: dict) -> torch.Tensor:
    """Tokens of each sentence's gold target: every entity's subwords (all fragments) and its type, then `</s>`."""
    word_ends = word_subword_ends(batch["word_index"], batch["word_mask"].bool(), batch["attention_mask"])
    fragments = batch["entity_fragments"]
    present = fragments[..., 0] >= 0
    rows = torch.arange(len(fragments)).view(-1, 1, 1).expand_as(fragments[..., 0])
    first, last = fragments[..., 0].clamp(min=0), (fragments[..., 1] - 1).clamp(min=0)
    subwords = torch.where(present, word_ends[rows, last] - batch["word_index"][rows, first], 0).sum(-1)
    is_entity = present.any(-1)
    return (subwords + is_entity.long()).sum(1) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "out" / "nag_ner-conll04",
                        help="a saved nag_ner model with its tokenizer (what benchmarks/accuracy.py writes)")
    parser.add_argument("--dataset_dir", type=Path, default=ROOT.parent / "shared" / "data" / "conll04")
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--num_batches", type=int, default=36, help="36 x 8 = the 288 CoNLL04 test sentences")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = AutoModel.from_pretrained(args.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    baseline = AutoregressiveExtractor(model).eval()
    rows = load_jointie_dataset(args.dataset_dir, splits=[args.split])[args.split]
    rows = [dict(row, relations=[]) for row in rows.select(range(min(len(rows), args.batch_size * args.num_batches)))]
    collator = JointIEDataCollator(tokenizer, model.config.entity_types, [])
    batches, steps = [], []
    for i in range(0, len(rows), args.batch_size):
        batch = collator(rows[i : i + args.batch_size])
        steps.append(int(linearisation_lengths(batch).max()))
        batches.append({key: batch[key] for key in ("input_ids", "attention_mask", "word_index", "word_mask")})

    def encoder(batch: dict, _: int) -> None:
        model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])

    def nag_ner(batch: dict, _: int) -> None:
        model.decode(model(**batch), batch)

    def autoregressive(batch: dict, length: int) -> None:
        encoded = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                output_hidden_states=True)
        memory = encoded.last_hidden_state + encoded.hidden_states[0]
        baseline.generate(memory, batch["attention_mask"], batch["input_ids"], length)

    systems = {"encoder": encoder, "nag_ner": nag_ner, "autoregressive": autoregressive}
    seconds = {name: [] for name in systems}
    with torch.inference_mode():
        for function in systems.values():  # warm-up
            function(batches[0], steps[0])
        for _ in range(args.repeats):
            for name, function in systems.items():
                begin = time.perf_counter()
                for batch, length in zip(batches, steps):
                    function(batch, length)
                seconds[name].append(time.perf_counter() - begin)
        items = sum(len(model.select_starts(model(**batch), batch)[1]) for batch in batches)
    speed = {name: len(rows) / statistics.median(times) for name, times in seconds.items()}
    result = {
        "model": str(args.model), "dataset": f"{args.dataset_dir.name}:{args.split}", "sentences": len(rows),
        "batches": len(batches), "batch_size": args.batch_size, "threads": torch.get_num_threads(),
        "nag_ner_decoded_items": items, "gold_entities": sum(len(row["entities"]) for row in rows),
        "autoregressive_steps": sum(steps),
        "sentences_per_second": {name: round(value, 2) for name, value in speed.items()},
        "nag_ner_vs_autoregressive": round(speed["nag_ner"] / speed["autoregressive"], 2),
        "nag_ner_vs_encoder": round(speed["nag_ner"] / speed["encoder"], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
