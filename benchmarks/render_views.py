#!/usr/bin/env python
"""Render the HTML view of three benchmark sentences and screenshot it with headless Chromium, to check by eye.

    python benchmarks/render_views.py [--data_dir ../shared/data] [--out_dir out/views] [--png docs/view.png]

The "predictions" are the gold annotations of one sentence each (score 1.0 on every entity and relation): a CoNLL04
sentence with relations, a GENIA sentence with nested entities, and a CADEC sentence with a discontinuous entity,
given as `{"tokens": [...]}` input as in the data, and CoNLL04 test sentences joined into one text of at least 50
entities and 40 relations (the crowded case). Writes one HTML page per sentence, one with all three, one for the
crowded text, a PNG
of each (Debian's `chromium` package, run headless with a fresh profile and no network features), and copies the
combined PNG to `--png`. The window height is estimated from the SVG heights and table rows (no script runs).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from hf_jointie.visualize import write_html

ROOT = Path(__file__).resolve().parents[1]
#: (dataset, split, sentence id, what it shows)
EXAMPLES = [
    ("conll04", "test", "conll04-test-188", "relations"),
    ("genia", "test", "genia-1791-MEDLINE:92135145-4", "nested"),
    ("cadec", "test", "cadec-test-63", "discontinuous"),
]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def gold_prediction(record: dict) -> dict:
    """A record's gold annotations in the pipeline's output format (token offsets, score 1.0)."""
    entities = [{"id": i, "type": e["type"], "start": e["start"], "end": e["end"], "score": 1.0,
                 **({"fragments": e["fragments"]} if len(e.get("fragments") or []) > 1 else {})}
                for i, e in enumerate(record["entities"])]
    relations = [{"head": r["head"], "tail": r["tail"], "type": r["type"], "score": 1.0} for r in record["relations"]]
    return {"entities": entities, "relations": relations}


def find(data_dir: Path, dataset: str, split: str, sentence_id: str) -> dict:
    with open(data_dir / dataset / f"{split}.jsonl") as lines:
        for line in lines:
            record = json.loads(line)
            if record["id"] == sentence_id:
                return record
    raise SystemExit(f"{sentence_id} is not in {data_dir / dataset / split}.jsonl")


def long_document(data_dir: Path, entities: int = 50, relations: int = 40) -> dict:
    """CoNLL04 test sentences with relations, in file order, joined into one record until it holds at least
    `entities` entities and `relations` relations (the readability check for a crowded view)."""
    merged = {"tokens": [], "entities": [], "relations": []}
    with open(data_dir / "conll04" / "test.jsonl") as lines:
        for line in lines:
            record = json.loads(line)
            if not record["relations"]:
                continue
            shift, base = len(merged["tokens"]), len(merged["entities"])
            merged["tokens"] += record["tokens"]
            merged["entities"] += [{**e, "start": e["start"] + shift, "end": e["end"] + shift} for e in record["entities"]]
            merged["relations"] += [{**r, "head": r["head"] + base, "tail": r["tail"] + base} for r in record["relations"]]
            if len(merged["entities"]) >= entities and len(merged["relations"]) >= relations:
                return merged
    raise SystemExit("CoNLL04 test has too few relations for the long document")


def page_height(page: Path) -> int:
    """Estimated rendered height in px (no script runs to measure it): the title and legend, and per text its
    heading, SVG, relation table (header and rows) or "No relations." line, and the folded entity list."""
    source = page.read_text()
    svgs = sum(float(h) for h in re.findall(r'<svg [^>]*height="([\d.]+)"', source))
    relation_rows = source.count("<tr data-relation=")
    tables = source.count('<table class="hfj-relations">')
    empty = source.count('class="hfj-none"')
    texts = source.count('<section class="hfj-doc">')
    return int(110 + svgs + 26 * relation_rows + 40 * tables + 45 * empty + 90 * texts)


def screenshot(chromium: str, page: Path, png: Path, width: int = 980) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={width},{page_height(page)}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out_dir", type=Path, default=ROOT / "out" / "views")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "view.png", help="copy of the combined PNG")
    parser.add_argument("--chromium", default="chromium")
    args = parser.parse_args()
    records = [(find(args.data_dir, *example[:3]), example) for example in EXAMPLES]
    pages = []
    for record, (dataset, _, sentence_id, shows) in records:
        page = write_html(args.out_dir / f"{dataset}.html", {"tokens": record["tokens"]}, gold_prediction(record),
                          title=f"{dataset} {sentence_id} ({shows}; gold annotations)")
        pages.append(page)
    pages.append(write_html(args.out_dir / "all.html", [{"tokens": r["tokens"]} for r, _ in records],
                            [gold_prediction(r) for r, _ in records],
                            title="CoNLL04, GENIA and CADEC test sentences (gold annotations)"))
    crowded = long_document(args.data_dir)
    pages.append(write_html(args.out_dir / "crowded.html", {"tokens": crowded["tokens"]}, gold_prediction(crowded),
                            title=f"CoNLL04 test sentences joined: {len(crowded['entities'])} entities, "
                                  f"{len(crowded['relations'])} relations (gold)"))
    for page in pages:
        png = page.with_suffix(".png")
        screenshot(args.chromium, page, png)
        print(f"{png} ({png.stat().st_size // 1024} KB)")
    args.png.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pages[-2].with_suffix(".png"), args.png)
    print(f"copied to {args.png}")


if __name__ == "__main__":
    main()
