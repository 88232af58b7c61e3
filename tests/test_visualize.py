"""The HTML view (parsed back with `html.parser`: highlights, arcs, table rows, escaping, layout without overlaps) and
the spaCy export."""

from __future__ import annotations

import importlib.util
import random
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from conftest import ENTITY_TYPES, RELATION_TYPES, SHARED_DATA
from transformers import BertConfig, pipeline

from hf_jointie import IterConfig, IterModel
from hf_jointie.visualize import JointIEView, display, render_fragment, render_html, text_width, to_spacy, write_html


class View(HTMLParser):
    """Collects what a reader of the view sees: words (with their offset and box), entity groups (attributes, tint
    and bar boxes, tag text), relation arcs and labels, table rows (cell texts)."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.words, self.entities, self.arcs, self.labels, self.rows = [], [], [], [], []
        self.boxes = []  # (kind, x, y, width, height) of every tag and arc label
        self._text_target, self._group, self._row, self._cell = None, None, None, None
        self.feed(source)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        css = attrs.get("class", "")
        if tag == "text" and css == "hfj-word":
            self.words.append({"start": int(attrs["data-start"]), "x": float(attrs["x"]), "y": float(attrs["y"]),
                               "width": float(attrs["textlength"]), "text": ""})
            self._text_target = self.words[-1]
        elif tag == "g" and css in ("hfj-ent", "hfj-rel", "hfj-rel-label"):
            self._group = {**attrs, "tints": [], "bars": [], "joins": 0, "paths": 0, "text": ""}
            {"hfj-ent": self.entities, "hfj-rel": self.arcs, "hfj-rel-label": self.labels}[css].append(self._group)
        elif tag == "rect" and self._group is not None:
            box = tuple(float(attrs[k]) for k in ("x", "y", "width", "height"))
            if css == "hfj-tint":
                self._group["tints"].append(box)
            elif css == "hfj-bar":
                self._group["bars"].append(box)
            else:
                self.boxes.append((self._group["class"], *box))
        elif tag == "line" and self._group is not None:
            self._group["joins"] += 1
        elif tag == "path" and self._group is not None:
            self._group["paths"] += 1
        elif tag == "text" and self._group is not None:
            self._text_target = self._group
        elif tag == "tr" and "data-relation" in attrs:
            self._row = {"relation": int(attrs["data-relation"]), "cells": []}
            self.rows.append(self._row)
        elif tag == "td" and self._row is not None:
            self._row["cells"].append("")
            self._cell = True

    def handle_endtag(self, tag):
        if tag == "text":
            self._text_target = None
        elif tag == "g":
            self._group = None
        elif tag == "tr":
            self._row = None
        elif tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._text_target is not None:
            self._text_target["text"] += data
        if self._cell and self._row is not None:
            self._row["cells"][-1] += data


def covered_text(view: View, text: str, box: tuple) -> str:
    """The text under a tint box: from the first to the last word whose box lies inside it."""
    x, _, width, _ = box
    inside = [w for w in view.words if x <= w["x"] and w["x"] + w["width"] <= x + width + 0.01 and
              box[1] <= w["y"] <= box[1] + box[3]]
    return text[min(w["start"] for w in inside) : max(w["start"] + len(w["text"]) for w in inside)]


TEXT = "John Smith works for Acme Corp in Boston."
PREDICTION = {
    "entities": [
        {"id": 0, "text": "John Smith", "type": "Peop", "start": 0, "end": 10, "score": 0.98},
        {"id": 1, "text": "Acme Corp", "type": "Org", "start": 21, "end": 30, "score": 0.91},
        {"id": 2, "text": "Boston", "type": "Loc", "start": 34, "end": 40, "score": 0.5},
    ],
    "relations": [{"head": 0, "tail": 1, "type": "Work_For", "score": 0.876},
                  {"head": 1, "tail": 2, "type": "OrgBased_In", "score": 0.4}],
}


def test_every_entity_is_highlighted_once_with_its_type_over_its_own_words():
    source = render_html(TEXT, PREDICTION, title="Demo")
    view = View(source)
    assert "".join(w["text"] for w in view.words) == TEXT.replace(" ", "")
    assert len(view.entities) == 3
    for entity in PREDICTION["entities"]:
        (group,) = [g for g in view.entities if g["data-entity"] == str(entity["id"])]
        assert (group["data-type"], group["data-text"]) == (entity["type"], entity["text"])
        assert group["text"] == entity["type"]  # the tag under the bar
        (tint,) = group["tints"]
        assert covered_text(view, TEXT, tint) == entity["text"]
    assert "<script" not in source and "http" not in source.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_every_relation_has_an_arc_a_label_and_a_table_row():
    view = View(render_html(TEXT, PREDICTION))
    entities = PREDICTION["entities"]
    assert len(view.arcs) == len(view.labels) == len(view.rows) == 2
    for r, relation in enumerate(PREDICTION["relations"]):
        (arc,) = [a for a in view.arcs if a["data-relation"] == str(r)]
        assert (arc["data-head"], arc["data-tail"], arc["data-type"], arc["data-score"]) == (
            str(relation["head"]), str(relation["tail"]), relation["type"], f"{relation['score']:.2f}")
        assert arc["paths"] == 2  # the arc and its arrowhead
        (label,) = [g for g in view.labels if g["data-relation"] == str(r)]
        assert label["text"] == f"{relation['type']} {relation['score']:.2f}"
        (row,) = [row for row in view.rows if row["relation"] == r]
        head, tail = entities[relation["head"]], entities[relation["tail"]]
        assert row["cells"] == [str(r + 1), f"{head['text']} {head['type']}", relation["type"],
                                f"{tail['text']} {tail['type']}", f"{relation['score']:.2f}"]


def test_arc_runs_from_head_to_tail_with_the_arrow_at_the_tail():
    """Swapping head and tail must move the arrowhead: its tip is under the tail entity."""
    source = render_html(TEXT, {**PREDICTION, "relations": [{"head": 1, "tail": 0, "type": "X", "score": 1.0}]})
    tip_x = float(source.split('fill="#1f3a93"/>')[0].rsplit(" L", 1)[1].split(",")[0])
    view = View(source)
    (john,) = [g for g in view.entities if g["data-entity"] == "0"]
    x, _, width, _ = john["tints"][0]
    assert x <= tip_x <= x + width


def test_nested_entities_get_separate_bar_levels():
    tokens = ["the", "interleukin-2", "receptor", "alpha", "chain", "gene"]
    prediction = {"entities": [{"start": 1, "end": 5, "type": "protein"}, {"start": 1, "end": 2, "type": "protein"},
                               {"start": 1, "end": 6, "type": "DNA"}], "relations": []}
    view = View(render_html({"tokens": tokens}, prediction))
    text = " ".join(tokens)
    texts = sorted(covered_text(view, text, g["tints"][0]) for g in view.entities)
    assert texts == ["interleukin-2", "interleukin-2 receptor alpha chain", "interleukin-2 receptor alpha chain gene"]
    assert len({g["bars"][0][1] for g in view.entities}) == 3  # three levels: all three visible
    # the shortest sits nearest the text
    by_length = sorted(view.entities, key=lambda g: len(g["data-text"]))
    assert [g["bars"][0][1] for g in by_length] == sorted(g["bars"][0][1] for g in by_length)


def test_discontinuous_entity_is_its_fragments_joined():
    tokens = ["Shoulder", "pain", ",", "tendonitis", "in", "my", "shoulders", "and", "elbows", "."]
    prediction = {"entities": [{"start": 3, "end": 9, "type": "ADR", "fragments": [[3, 5], [8, 9]], "score": 0.7},
                               {"start": 3, "end": 7, "type": "ADR", "score": 0.9}], "relations": []}
    view = View(render_html({"tokens": tokens}, prediction))
    text = " ".join(tokens)
    (broken,) = [g for g in view.entities if g["data-entity"] == "0"]
    assert broken["data-text"] == "tendonitis in elbows"
    assert [covered_text(view, text, tint) for tint in broken["tints"]] == ["tendonitis in", "elbows"]
    assert broken["joins"] == 1 and len(broken["bars"]) == 2 and broken["bars"][0][1] == broken["bars"][1][1]
    (whole,) = [g for g in view.entities if g["data-entity"] == "1"]
    assert whole["joins"] == 0 and whole["bars"][0][1] != broken["bars"][0][1]


def test_markup_in_the_text_is_escaped():
    text = 'if a < b & c > "d" then <script>alert(1)</script> \'e\''
    start = text.index("<script>")
    prediction = {"entities": [{"text": "<script>alert(1)</script>", "type": "<b>", "start": start,
                                "end": start + 25, "score": 1.0}], "relations": []}
    source = render_html(text, prediction, title="<i>&")
    assert "<script" not in source and "<b>" not in source and "<i>" not in source
    view = View(source)
    assert "".join(w["text"] for w in view.words) == text.replace(" ", "")
    (group,) = view.entities
    assert (group["data-text"], group["data-type"], group["text"]) == ("<script>alert(1)</script>", "<b>", "<b>")
    assert covered_text(view, text, group["tints"][0]) == "<script>alert(1)</script>"


def _crowded(n_entities=50, n_relations=40, seed=0):
    """A long token text with `n_entities` entities (some nested) and `n_relations` relations, many across lines."""
    rng = random.Random(seed)
    tokens = [rng.choice(["alpha", "Beta", "gamma", "delta", "epsilon", ",", "of", "Washington", "IL-2"])
              for _ in range(260)]
    starts = sorted(rng.sample(range(0, 255, 2), n_entities - 5))
    entities = [{"start": s, "end": s + rng.randint(1, 2), "type": rng.choice(["Peop", "Loc", "Org", "Other"]),
                 "score": rng.random()} for s in starts]
    entities += [{"start": e["start"], "end": e["end"] + 3, "type": "Org", "score": 0.3} for e in entities[:5]]
    pairs = rng.sample([(h, t) for h in range(n_entities) for t in range(n_entities) if h != t], n_relations)
    relations = [{"head": h, "tail": t, "type": rng.choice(["Live_In", "Work_For", "Kill"]), "score": rng.random()}
                 for h, t in pairs]
    return {"tokens": tokens}, {"entities": entities, "relations": relations}


def _overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_fifty_entities_and_forty_relations_wrap_without_overlapping_labels():
    source_input, prediction = _crowded()
    view = View(render_html(source_input, prediction))
    assert len(view.entities) == 50 and len(view.arcs) == 40 and len(view.rows) == 40
    assert len({w["y"] for w in view.words}) > 2  # wrapped into lines
    assert max(w["x"] + w["width"] for w in view.words) <= 12 + 900 + 1
    assert any(arc["paths"] == 4 for arc in view.arcs)  # an arc across lines: two halves (with arrow and chevron)
    boxes = [box[1:] for box in view.boxes]
    words = [(w["x"], w["y"] - 13, w["width"], 18) for w in view.words]
    for i, box in enumerate(boxes):
        assert not any(_overlap(box, other) for other in boxes[i + 1 :]), "two tags or labels overlap"
        assert not any(_overlap(box, word) for word in words), "a tag or label covers a word"


def test_word_widths_follow_the_font_metrics():
    assert text_width("W", 10) > text_width("i", 10) * 3
    assert text_width("\u6f22", 16) == 16  # a wide CJK character is one em


@pytest.mark.parametrize(
    "source, prediction, error, message",
    [
        (TEXT, {"entities": [{"type": "X", "start": 30, "end": 99}]}, ValueError, "outside the 41 characters"),
        ({"tokens": ["a", "b"]}, {"entities": [{"type": "X", "start": 0, "end": 3}]}, ValueError, "2 tokens"),
        (TEXT, {"entities": [{"type": "X", "start": 0, "end": 2}], "relations": [{"head": 0, "tail": 5, "type": "R"}]},
         ValueError, "tail 5 names no entity"),
        (TEXT, {"entities": [{"type": "X", "start": 0, "end": 2, "text": "John"}]}, ValueError, "{'tokens'"),
        (TEXT, {"entities": [{"start": 0, "end": 2}]}, ValueError, "string 'type'"),
        (TEXT, {"entities": [{"type": "X", "start": 0, "end": 2, "score": "high"}]}, TypeError, "non-numeric score"),
        (TEXT, [PREDICTION, PREDICTION], TypeError, "must be a dict"),
        ([TEXT, TEXT], [PREDICTION], ValueError, "2 inputs need as many predictions"),
        (42, PREDICTION, TypeError, "got int"),
    ],
)
def test_bad_input_errors(source, prediction, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace("{", r"\{")):
        render_html(source, prediction)


def test_colors_override_and_bad_colors_are_rejected():
    source = render_html(TEXT, PREDICTION, colors={"Peop": "#123456", "Work_For": "rebeccapurple"})
    assert 'fill="#123456"' in source and 'stroke="rebeccapurple"' in source
    with pytest.raises(ValueError, match="not a CSS colour"):
        render_html(TEXT, PREDICTION, colors={"Peop": 'red" onload="x'})


def test_several_texts_one_page_and_write_html(tmp_path):
    tokens = {"tokens": ["Mary", "lives", "in", "Paris"]}
    other = {"entities": [{"start": 0, "end": 1, "type": "Peop"}, {"start": 3, "end": 4, "type": "Loc"}],
             "relations": [{"head": 0, "tail": 1, "type": "Live_In"}]}
    path = write_html(tmp_path / "sub" / "view.html", [TEXT, tokens], [PREDICTION, other])
    view = View(path.read_text(encoding="utf-8"))
    assert path.read_text().startswith("<!DOCTYPE html>")
    assert len(view.entities) == 5 and len(view.rows) == 3
    assert [row["cells"][-1] for row in view.rows] == ["0.88", "0.40", "\u2013"]  # gold relations have no score


def test_notebook_view_and_display(monkeypatch):
    view = JointIEView(TEXT, PREDICTION)
    assert view._repr_html_() == render_fragment(TEXT, PREDICTION)
    assert view._repr_html_().startswith('<div class="hfj">')
    shown = []
    fake = types.ModuleType("IPython.display")
    fake.display = shown.append
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    display(TEXT, PREDICTION)
    assert len(shown) == 1 and shown[0]._repr_html_() == view._repr_html_()
    with pytest.raises(ValueError):
        JointIEView(TEXT, {"entities": [{"type": "X", "start": 0, "end": 99}]})  # at construction, not display


def test_renders_what_the_pipeline_returns(tokenizer, tmp_path):
    """A random ITER model at a low threshold: whatever it finds in a text shows up, one highlight per entity (its
    relation probabilities all sit near 0.5, so the best ten relations are kept)."""
    torch.manual_seed(0)
    encoder = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)
    model = IterModel(IterConfig(encoder_config=encoder, entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES,
                                 max_length=16))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    ie = pipeline("joint-ie", model=str(tmp_path))
    text = "Mary works for Acme Corp in New York City."
    result = ie(text, threshold=0.2)
    result["relations"] = sorted(result["relations"], key=lambda relation: -relation["score"])[:10]
    assert result["entities"] and result["relations"]
    view = View(render_html(text, result))
    assert sorted(g["data-text"] for g in view.entities) == sorted(e["text"] for e in result["entities"])
    assert len(view.arcs) == len(view.rows) == len(result["relations"])


requires_spacy = pytest.mark.skipif(importlib.util.find_spec("spacy") is None, reason="needs the spacy extra")


@requires_spacy
def test_to_spacy_spans_ents_and_relations():
    import spacy
    from spacy import displacy

    text = "Mary  works for IL-2R in\nBoston."
    prediction = {"entities": [{"id": 7, "type": "Peop", "start": 0, "end": 4, "score": 0.9},
                               {"id": 8, "type": "protein", "start": 16, "end": 20, "score": 0.8},  # inside "IL-2R"
                               {"id": 9, "type": "Org", "start": 16, "end": 21, "score": 0.6},
                               {"id": 10, "type": "Loc", "start": 25, "end": 31, "score": 0.7}],
                  "relations": [{"head": 7, "tail": 10, "type": "Live_In", "score": 0.95},
                                {"head": 7, "tail": 8, "type": "Work_For", "score": 0.5}]}
    nlp = spacy.blank("en")
    doc = to_spacy(text, prediction, nlp)
    assert doc.text == text
    assert [(s.text, s.label_) for s in doc.spans["sc"]] == [("Mary", "Peop"), ("IL-2", "protein"), ("IL-2R", "Org"),
                                                             ("Boston", "Loc")]
    assert list(doc.spans["sc"].attrs["scores"]) == [0.9, 0.8, 0.6, 0.7]
    assert [(e.text, e.label_) for e in doc.ents] == [("Mary", "Peop"), ("IL-2R", "Org"), ("Boston", "Loc")]
    mary, il2, _, boston = doc.spans["sc"]
    assert doc._.rel == {(mary.start, boston.start): {"Live_In": 0.95}, (mary.start, il2.start): {"Work_For": 0.5}}
    assert "Live_In" not in displacy.render(doc, style="span") and "protein" in displacy.render(doc, style="span")
    from_vocab = to_spacy(text, prediction, nlp.vocab)  # the pipeline's word split instead of spaCy's tokenizer
    assert [(s.text, s.label_) for s in from_vocab.spans["sc"]] == [
        ("Mary", "Peop"), ("IL-2", "protein"), ("IL-2R", "Org"), ("Boston", "Loc")]


@requires_spacy
def test_to_spacy_tokens_and_discontinuous_entities():
    import spacy

    tokens = ["tendonitis", "in", "my", "shoulders", "and", "elbows"]
    prediction = {"entities": [{"start": 0, "end": 6, "type": "ADR", "fragments": [[0, 2], [5, 6]]},
                               {"start": 3, "end": 4, "type": "Body"}],
                  "relations": [{"head": 0, "tail": 1, "type": "Near"}]}
    doc = to_spacy({"tokens": tokens}, prediction, spacy.blank("en"))
    assert [t.text for t in doc] == tokens
    assert [(s.start, s.end, s.label_) for s in doc.spans["sc"]] == [(0, 2, "ADR"), (5, 6, "ADR"), (3, 4, "Body")]
    assert [e.text for e in doc.ents] == ["shoulders"]  # a fragment is not a whole entity
    assert doc._.rel == {(0, 3): {"Near": None}}
    with pytest.raises(TypeError, match="Language or Vocab"):
        to_spacy({"tokens": tokens}, prediction, "en")


def test_render_views_gold_predictions():
    """benchmarks/render_views.py shows gold annotations in the pipeline's format; one-fragment lists are plain."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import render_views

    record = {"tokens": ["a", "b", "c", "d"], "relations": [{"head": 1, "tail": 0, "type": "R"}],
              "entities": [{"start": 0, "end": 2, "type": "X", "fragments": [[0, 2]]},
                           {"start": 0, "end": 4, "type": "Y", "fragments": [[0, 1], [3, 4]]}]}
    assert render_views.gold_prediction(record) == {
        "entities": [{"id": 0, "type": "X", "start": 0, "end": 2, "score": 1.0},
                     {"id": 1, "type": "Y", "start": 0, "end": 4, "score": 1.0, "fragments": [[0, 1], [3, 4]]}],
        "relations": [{"head": 1, "tail": 0, "type": "R", "score": 1.0}]}
    if SHARED_DATA.is_dir():
        crowded = render_views.long_document(SHARED_DATA)
        assert len(crowded["entities"]) >= 50 and len(crowded["relations"]) >= 40
        assert all(0 <= r["head"] < len(crowded["entities"]) for r in crowded["relations"])


def test_to_spacy_without_spacy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)  # as if spaCy were not installed
    with pytest.raises(ImportError, match=r"hf_jointie\[spacy\]"):
        to_spacy(TEXT, PREDICTION, object())
