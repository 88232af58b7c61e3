"""Property-based tests (hypothesis): the pipeline on generated text and the dataset loader on generated JSONL.

The pipeline runs a tiny random ITER model whose heads are drawn wide and whose thresholds are set so that it
predicts entities and relations on any text (`conftest.predicting_iter_model`), with a window of 16 subwords so that
longer texts are windowed. Examples are derandomized and few, so CI is fast and every run checks the same inputs.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import ENTITY_TYPES, RELATION_TYPES, predicting_iter_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import pipeline

from hf_jointie.data import load_jointie_dataset, window_budget, word_lengths
from hf_jointie.pipeline import WORD_PATTERN

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
WINDOW = 16

# --- generated text ------------------------------------------------------------------------------------------------

VOCABULARY = ["John", "Smith", "lives", "in", "Boston", "Mary", "works", "for", "Acme", "Corp", "New", "York", "."]
SCRIPTS = ["Москва", "東京都", "القاهرة", "Αθήνα", "मुंबई", "서울", "🙂🚀", "naïve", "Ñandú", "ﬁnance", "e\u0301",
           "a\u200bb", "\u202eRTL", "Ǆ", "ß"]
WHITESPACE = st.text(alphabet=" \t\n\r\u00a0\u2003\u3000\u2028\x0b\x0c", min_size=1, max_size=4)
PIECES = st.one_of(
    st.sampled_from(VOCABULARY),
    st.sampled_from(SCRIPTS),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8),  # any unicode
    st.text(alphabet="abcdefghij", min_size=40, max_size=200),  # very long words
)
TEXTS = st.lists(st.tuples(PIECES, WHITESPACE), min_size=1, max_size=30).map(
    lambda parts: "".join(piece + space for piece, space in parts)
).filter(lambda text: text.strip())


@pytest.fixture(scope="module")
def ie(tmp_path_factory, tokenizer):
    from transformers import BertConfig

    encoder = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)
    directory = tmp_path_factory.mktemp("predicting-iter")
    predicting_iter_model(encoder, max_length=WINDOW).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return pipeline("joint-ie", model=str(directory))


def check_well_formed(text: str, result: dict) -> None:
    assert set(result) == {"entities", "relations"}
    keys = set()
    for index, entity in enumerate(result["entities"]):
        assert entity["id"] == index and entity["type"] in ENTITY_TYPES and 0.0 <= entity["score"] <= 1.0
        assert 0 <= entity["start"] < entity["end"] <= len(text)
        assert text[entity["start"] : entity["end"]] == entity["text"] and entity["text"].strip() == entity["text"]
        for start, end in entity.get("fragments", []):
            assert entity["start"] <= start < end <= entity["end"]
        key = (entity["start"], entity["end"], entity["type"], str(entity.get("fragments")))
        assert key not in keys  # windows are merged: no entity twice
        keys.add(key)
    for relation in result["relations"]:
        assert 0 <= relation["head"] < len(result["entities"]) and 0 <= relation["tail"] < len(result["entities"])
        assert relation["type"] in RELATION_TYPES and 0.0 <= relation["score"] <= 1.0


def test_the_model_predicts_so_the_properties_below_are_not_vacuous(ie):
    result = ie("John Smith works for Acme Corp in New York . Mary lives in Boston . " * 3)
    assert len(result["entities"]) >= 3 and len(result["relations"]) >= 1


@SETTINGS
@given(text=TEXTS)
def test_results_are_well_formed_on_any_text(ie, text):
    check_well_formed(text, ie(text))


def _fill_one_window(ie, text: str) -> str:
    """`text` with one-subword words appended until its words take exactly one window."""
    budget = window_budget(ie.tokenizer, WINDOW)
    size = int(word_lengths(ie.tokenizer, [WORD_PATTERN.findall(text)])[0].sum())
    return text + " in" * (budget - size)


@SETTINGS
@given(text=TEXTS, separator=WHITESPACE)
def test_a_repeated_text_gets_the_same_entities_in_each_copy(ie, text, separator):
    # The encoder is contextual and position-aware, so a copy only predicts like another when both are read as the
    # same window: each copy fills one window exactly and consecutive windows share no word (stride=0).
    budget = window_budget(ie.tokenizer, WINDOW)
    if int(word_lengths(ie.tokenizer, [WORD_PATTERN.findall(text)])[0].sum()) > budget:
        text = " ".join(WORD_PATTERN.findall(text)[:4])  # keep a prefix that fits
        if int(word_lengths(ie.tokenizer, [WORD_PATTERN.findall(text)])[0].sum()) > budget:
            return
    copy = _fill_one_window(ie, text)
    doubled = copy + separator + copy
    result = ie(doubled, stride=0)
    check_well_formed(doubled, result)
    shift = len(copy) + len(separator)
    first = [(e["start"], e["end"], e["type"]) for e in result["entities"] if e["end"] <= len(copy)]
    second = [(e["start"] - shift, e["end"] - shift, e["type"]) for e in result["entities"] if e["start"] >= shift]
    assert len(first) + len(second) == len(result["entities"])  # no entity straddles the copies
    assert first == second
    single = ie(copy)
    assert [(e["start"], e["end"], e["type"]) for e in single["entities"]] == first


def _comparable(results: list[dict]) -> tuple[list, list]:
    """What a result says (entities and relations without scores) and its scores, separately: padding a window
    into a longer batch changes the last bits of a float, not what is predicted."""
    said, scores = [], []
    for result in results:
        said.append(([(e["start"], e["end"], e["type"]) for e in result["entities"]],
                     [(r["head"], r["tail"], r["type"]) for r in result["relations"]]))
        scores.extend(x["score"] for x in result["entities"] + result["relations"])
    return said, scores


@settings(SETTINGS, max_examples=10)
@given(texts=st.lists(TEXTS, min_size=2, max_size=6), batch_size=st.integers(1, 5))
def test_results_do_not_depend_on_batch_size_or_order(ie, texts, batch_size):
    alone_said, alone_scores = _comparable([ie(text) for text in texts])
    said, scores = _comparable(ie(texts, batch_size=batch_size))
    assert said == alone_said and scores == pytest.approx(alone_scores, abs=1e-5)
    said, scores = _comparable(ie(texts[::-1], batch_size=batch_size)[::-1])
    assert said == alone_said and scores == pytest.approx(alone_scores, abs=1e-5)


# --- generated JSONL -----------------------------------------------------------------------------------------------

TOKENS = st.lists(st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=6),
                  min_size=1, max_size=8)


@st.composite
def records(draw):
    """A well-formed record: entities inside the sentence (some discontinuous), relations between them."""
    tokens = draw(TOKENS)
    entities = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, len(tokens) - 1))
        end = draw(st.integers(start + 1, len(tokens)))
        entity = {"start": start, "end": end, "type": draw(st.sampled_from(ENTITY_TYPES)), "fragments": []}
        if end - start >= 3 and draw(st.booleans()):
            entity["fragments"] = [[start, start + 1], [end - 1, end]]
        entities.append(entity)
    relations = [
        {"head": draw(st.integers(0, len(entities) - 1)), "tail": draw(st.integers(0, len(entities) - 1)),
         "type": draw(st.sampled_from(RELATION_TYPES))}
        for _ in range(draw(st.integers(0, 3) if entities else st.just(0)))
    ]
    return {"id": draw(st.text(min_size=1, max_size=5)), "tokens": tokens, "entities": entities, "relations": relations}


def _entity(record, **changes):
    return {**record, "entities": [{**record["entities"][0], **changes}] + record["entities"][1:]}


#: Ways to break a well-formed record: `(name, break(record, draw) -> line, cause the error must name)`.
BREAKS = [
    ("truncated JSON", lambda r, d: json.dumps(r)[: d(st.integers(1, len(json.dumps(r)) - 1))], "invalid JSON"),
    ("not an object", lambda r, d: json.dumps([r]), "must be a JSON object"),
    ("tokens not a list", lambda r, d: json.dumps({**r, "tokens": " ".join(r["tokens"])}), "`tokens` must be a list"),
    ("a token not a string", lambda r, d: json.dumps({**r, "tokens": r["tokens"] + [7]}), "`tokens` must be a list"),
    ("entities not a list", lambda r, d: json.dumps({**r, "entities": d(st.sampled_from([5, "x", {}]))}),
     "`entities` must be a list"),
    ("entity not an object", lambda r, d: json.dumps({**r, "entities": [[0, 1, "Loc"]]}), "an entity must be an object"),
    ("start not an integer", lambda r, d: json.dumps(_entity(r, start=d(st.sampled_from(["0", 0.5, None, True])))),
     "`start` must be an integer"),
    ("type not a string", lambda r, d: json.dumps(_entity(r, type=d(st.sampled_from([1, None, ["Loc"]])))),
     "`type` must be a string"),
    ("negative start", lambda r, d: json.dumps(_entity(r, start=d(st.integers(-5, -1)))), "not inside the sentence"),
    ("reversed span", lambda r, d: json.dumps(_entity(r, start=r["entities"][0]["end"], end=r["entities"][0]["start"])),
     "need start < end"),
    ("end past the sentence", lambda r, d: json.dumps(_entity(r, end=len(r["tokens"]) + d(st.integers(1, 3)))),
     "not inside the sentence"),
    ("relation to a missing entity", lambda r, d: json.dumps(
        {**r, "relations": [{"head": 0, "tail": len(r["entities"]) + d(st.integers(0, 3)), "type": "Live_In"}]}),
     "points at a missing entity"),
    ("relation with a negative index", lambda r, d: json.dumps(
        {**r, "relations": [{"head": -1, "tail": 0, "type": "Live_In"}]}), "points at a missing entity"),
    ("relation not an object", lambda r, d: json.dumps({**r, "relations": [[0, 0, "Live_In"]]}),
     "a relation must be an object"),
    ("unknown fragment shape", lambda r, d: json.dumps(_entity(r, fragments=d(st.sampled_from(
        [[[0, 1, 2]], [0, 1], "0-1", 3, [[]], [{"start": 0}]])))), "`fragments` must be a list of \\[start, end\\]"),
    ("fragment of non-integers", lambda r, d: json.dumps(_entity(r, start=0, end=len(r["tokens"]),
                                                                 fragments=[["0", 1], [1, 2]])),
     "`fragment start` must be an integer"),
    ("missing key", lambda r, d: json.dumps({k: v for k, v in r.items() if k != d(st.sampled_from(["tokens", "entities", "relations"]))}),
     "missing key"),
]


@SETTINGS
@given(rows=st.lists(records(), min_size=1, max_size=5), data=st.data())
def test_every_malformed_line_names_file_line_and_cause(tmp_path, rows, data):
    name, breaker, cause = data.draw(st.sampled_from(BREAKS), label="break")
    rows = [dict(row, entities=row["entities"] or [{"start": 0, "end": 1, "type": "Loc", "fragments": []}])
            for row in rows]
    position = data.draw(st.integers(0, len(rows) - 1), label="line")
    lines = [json.dumps(row) for row in rows]
    lines[position] = breaker(rows[position], data.draw)
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"^train\.jsonl line {position + 1}\b.*({cause})") as error:
        load_jointie_dataset(tmp_path)
    assert not re.search(r"Traceback|pyarrow", str(error.value)), name


@SETTINGS
@given(rows=st.lists(records(), min_size=1, max_size=6), ascii_only=st.booleans())
def test_well_formed_lines_load_unchanged(tmp_path, rows, ascii_only):
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps(row, ensure_ascii=ascii_only) + "\n" for row in rows), encoding="utf-8")
    loaded = load_jointie_dataset(tmp_path)["train"]
    assert loaded.to_list() == rows
