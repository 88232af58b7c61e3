"""Every model card has Hub-style YAML metadata, and every number in its `model-index` is one measured in
`benchmarks/RESULTS.md` for that architecture."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
CARDS = sorted((ROOT / "model_cards").glob("*.md"))


def _front_matter(path: Path) -> dict:
    text = path.read_text()
    match = re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, f"{path.name} has no YAML front matter"
    return yaml.safe_load(match.group(1))


def _results_rows() -> list[list[str]]:
    lines = (ROOT / "benchmarks" / "RESULTS.md").read_text().splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("| ")]


@pytest.mark.parametrize("card", CARDS, ids=[card.stem for card in CARDS])
def test_card_metadata_parses_and_numbers_match_results(card):
    metadata = _front_matter(card)
    assert metadata["library_name"] == "hf_jointie"
    assert metadata.get("tags") and metadata.get("model-index"), f"{card.name} lacks tags or model-index"
    architecture = card.stem
    measured = {  # a row's architecture may name a variant: "cascade_srn (late)"
        cell for row in _results_rows() if len(row) > 1 and row[1].split(" (")[0] == architecture for cell in row[2:5]
    }
    for model in metadata["model-index"]:
        for result in model["results"]:
            for metric in (m for m in result["metrics"] if m["type"] == "f1"):  # RESULTS.md holds F1 scores
                value = f"{float(metric['value']):.2f}"
                assert value in measured, f"{card.name}: {metric['name']} = {value} is not in RESULTS.md for {architecture}"


def test_every_architecture_has_a_card():
    import hf_jointie

    assert {card.stem for card in CARDS} >= set(hf_jointie.ARCHITECTURES)
