"""Tests of dataset_scripts: every converter on small hand-written snippets of its format.

Checks conversion rules, awkward cases (nested, discontinuous, multi-sentence documents,
entities and relations crossing sentences), clear errors on bad input, the CLI round trip
to jsonl/parquet/arrow, and the Features of the result.  Tests that read the shared
benchmark data skip when ``../shared/data`` is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from dataset_scripts import biorelex, common, conll, dygie, genia, nyt, spert, w2ner

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def dump(path: Path, obj: object) -> Path:
    """Write ``obj`` as JSON (a list) and return the path."""
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


SPERT = [
    {"tokens": ["John", "Smith", "works", "for", "Acme", "Corp", "in", "Paris", "."],
     "entities": [{"type": "Peop", "start": 0, "end": 2}, {"type": "Org", "start": 4, "end": 6},
                  {"type": "Loc", "start": 7, "end": 8}, {"type": "Org", "start": 4, "end": 6}],
     "relations": [{"type": "Work_For", "head": 0, "tail": 3}, {"type": "OrgBased_In", "head": 1, "tail": 2}],
     "orig_id": 17},
    {"tokens": ["New", "York", "University"],
     "entities": [{"type": "Org", "start": 0, "end": 3}, {"type": "Loc", "start": 0, "end": 2}],
     "relations": [{"type": "OrgBased_In", "head": 0, "tail": 1}], "orig_id": 3},
]


# ------------------------------------------------------------------ common


def test_features_are_the_schema() -> None:
    f = common.FEATURES
    assert f["tokens"].feature == datasets.Value("string")
    ent = f["entities"].feature
    assert ent["start"] == ent["end"] == datasets.Value("int32")
    assert ent["fragments"] == datasets.List(datasets.List(datasets.Value("int32")))
    rel = f["relations"].feature
    assert rel["head"] == rel["tail"] == datasets.Value("int32") and rel["type"] == datasets.Value("string")


def test_statistics_nested_crossing_discontinuous() -> None:
    rec = {"tokens": list("abcdef"), "relations": [], "entities": [
        common.entity(0, 3, "X"), common.entity(1, 2, "Y"),                 # nested
        common.entity(2, 6, "Z", [[2, 3], [5, 6]]), common.entity(5, 6, "W"),  # crossing with 0, nested
    ]}
    st = common.statistics([rec])
    assert (st["nested pairs"], st["crossing pairs"], st["discontinuous"]) == (2, 1, 1)
    assert st["sentences with overlap"] == 1


def test_split_files_from_directory(tmp_path: Path) -> None:
    for name in ("conll04_dev.json", "conll04_train.json", "conll04_test.json"):
        dump(tmp_path / name, SPERT)
    assert list(common.find_split_files(tmp_path, (".json",))) == ["train", "dev", "test"]
    dump(tmp_path / "other_train.json", SPERT)
    with pytest.raises(ValueError, match="both look like split 'train'"):
        common.find_split_files(tmp_path, (".json",))


def test_validate_catches_bad_records() -> None:
    good = {"tokens": ["a", "b", "c"], "entities": [common.entity(0, 1, "X")], "relations": []}
    common.validate(good, "f.json", "record 0")
    cases = [
        ({"entities": [{"start": 2, "end": 2, "type": "X"}]}, r"f.json: record 0: entity 0: span \[2, 2\)"),
        ({"entities": [{"start": 0, "end": 4, "type": "X"}]}, "not inside the sentence of 3 tokens"),
        ({"entities": [{"start": 0, "end": 3, "type": "X", "fragments": [[0, 2], [1, 3]]}]}, "overlap"),
        ({"relations": [{"head": 0, "tail": 5, "type": "R"}]}, "points at a missing entity"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            common.validate({**good, **change}, "f.json", "record 0")


# ------------------------------------------------------------------ spert


def test_spert_copies_spans_and_dedupes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = dump(tmp_path / "train_triples.json", SPERT)
    dd = spert.convert(src, id_format="conll04-{split}-{key}")
    first, second = dd["train"][0], dd["train"][1]
    assert first["id"] == "conll04-train-17" and second["id"] == "conll04-train-3"
    assert [(e["start"], e["end"], e["type"]) for e in first["entities"]] == [(0, 2, "Peop"), (4, 6, "Org"), (7, 8, "Loc")]
    assert first["relations"][0] == {"head": 0, "tail": 1, "type": "Work_For"}  # remapped from the duplicate
    assert common.statistics(dd["train"].to_list())["nested pairs"] == 1
    assert dd["train"].features == common.FEATURES
    assert "DROPPED 1 exact duplicate entities" in capsys.readouterr().out


def test_spert_errors_name_file_and_record(tmp_path: Path) -> None:
    bad = [SPERT[1], {**SPERT[1], "entities": [{"type": "Org", "start": 2, "end": 1}]}]
    with pytest.raises(ValueError, match=r"bad\.json: record 1: entity 0: span \[2, 1\)"):
        spert.convert(dump(tmp_path / "bad.json", bad), report=False)
    dangling = [{**SPERT[1], "relations": [{"type": "R", "head": 0, "tail": 2}]}]
    with pytest.raises(ValueError, match="record 0: relation 0: `tail`=2 points at a missing entity"):
        spert.convert(dump(tmp_path / "d.json", dangling), report=False)
    with pytest.raises(ValueError, match="record 0: missing key.*'relations'"):
        spert.convert(dump(tmp_path / "m.json", [{"tokens": ["a"], "entities": []}]), report=False)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "arrow"])
def test_cli_round_trip(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    dump(src / "x_train.json", SPERT)
    dump(src / "x_dev.json", SPERT[1:])
    out = tmp_path / "out"
    assert spert.main([str(src), str(out), "--format", fmt, "--id-format", "x-{split}-{key}"]) == 0
    if fmt == "jsonl":
        rows = read_jsonl(out / "train.jsonl")
        assert rows[0]["entities"][0] == {"start": 0, "end": 2, "type": "Peop"}  # no fragments key
        assert rows[1]["relations"] == [{"head": 0, "tail": 1, "type": "OrgBased_In"}]
        return
    if fmt == "arrow":
        loaded = datasets.load_from_disk(str(out))
    else:
        loaded = datasets.DatasetDict({s: datasets.Dataset.from_parquet(str(out / f"{s}.parquet"))
                                       for s in ("train", "dev")})
    assert loaded["train"].features == common.FEATURES
    assert loaded["train"].num_rows == 2 and loaded["dev"][0]["id"] == "x-dev-3"
    assert loaded["train"][1]["entities"][1] == {"start": 0, "end": 2, "type": "Loc", "fragments": []}


def test_cli_as_module_reports_errors(tmp_path: Path) -> None:
    bad = dump(tmp_path / "bad.json", [{"tokens": ["a"], "entities": [{"type": "X", "start": 0, "end": 3}],
                                       "relations": []}])
    run = subprocess.run([sys.executable, "-m", "dataset_scripts.spert", str(bad), str(tmp_path / "o")],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 1 and "bad.json: record 0: entity 0" in run.stderr


# ------------------------------------------------------------------ dygie

DYGIE_DOC = {
    "doc_key": "D1", "dataset": "scierc",
    "sentences": [["We", "use", "CNNs", "for", "parsing", "."], ["The", "parser", "is", "fast", "."],
                  ["It", "beats", "LSTMs", "."]],
    "ner": [[[2, 2, "Method"], [4, 4, "Task"], [4, 4, "Task"], [5, 6, "Generic"]],
            [[7, 7, "Method"]],
            [[13, 13, "Method"]]],
    "relations": [[[2, 2, 4, 4, "Used-for"], [2, 2, 7, 7, "Used-for"], [5, 6, 2, 2, "Compare"]],
                  [],
                  [[13, 13, 13, 13, "Compare"]]],
    "clusters": [[[7, 7], [11, 11]]],
}


def test_dygie_document_to_sentences(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "train.json"
    src.write_text(json.dumps(DYGIE_DOC) + "\n", encoding="utf-8")
    rows = dygie.convert(src, id_format="{key}")["train"].to_list()
    assert [r["id"] for r in rows] == ["D1-0", "D1-1", "D1-2"]
    assert [(e["start"], e["end"], e["type"]) for e in rows[0]["entities"]] == [(2, 3, "Method"), (4, 5, "Task")]
    assert rows[0]["relations"] == [{"head": 0, "tail": 1, "type": "Used-for"}]
    assert [(e["start"], e["end"]) for e in rows[1]["entities"]] == [(1, 2)]  # doc index 7 - offset 6
    assert rows[2]["relations"] == [{"head": 0, "tail": 0, "type": "Compare"}]
    out = capsys.readouterr().out
    for line in ("DROPPED 1 entities crossing a sentence boundary", "DROPPED 1 exact duplicate entities",
                 "DROPPED 1 relations whose arguments cross sentences",
                 "DROPPED 1 relations on entities crossing a sentence boundary",
                 "note: 1 coreference clusters not converted"):
        assert line in out


def test_dygie_bad_input(tmp_path: Path) -> None:
    doc = {**DYGIE_DOC, "relations": [[[2, 2, 3, 3, "Used-for"]], [], []]}
    src = tmp_path / "dev.json"
    src.write_text("\n" + json.dumps(doc) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"dev\.json: line 2 \(doc 'D1'\), sentence 0, relation 0: .*dangling"):
        dygie.convert(src, report=False)
    doc = {**DYGIE_DOC, "ner": [[[9, 9, "X"]], [], []], "relations": [[], [], []]}
    src.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ValueError, match="line 1 .*ner 0: span .* lies outside its sentence"):
        dygie.convert(src, report=False)


# ------------------------------------------------------------------ genia

GENIA_XML = """<?xml version="1.0" encoding="UTF-8"?>
<set>
<article><articleinfo><bibliomisc>MEDLINE:1</bibliomisc></articleinfo>
<title><sentence><cons lex="IL-2_gene" sem="G#DNA_domain_or_region"><cons lex="IL-2" sem="G#protein_molecule">IL-2</cons> gene</cons> expression by <cons lex="5-LO" sem="G#protein_molecule">5-lipoxygenase</cons>.</sentence></title>
<abstract><sentence>In <cons sem="G#cell_type">T cells</cons> and <cons lex="x" sem="G#virus">HIV</cons> regions, <cons sem="(AND G#protein_molecule G#protein_molecule)"><cons lex="alpha-*">alpha-</cons> and <cons sem="G#protein_molecule">beta-globin</cons></cons> bind.</sentence>
<sentence><cons sem="G#protein_complex"><cons sem="G#RNA_molecule">p50</cons></cons> and <cons sem="G#protein_N/A"><cons sem="G#protein_N/A">NF</cons></cons>(x)</sentence></abstract>
</article>
</set>
"""


def test_genia_tokens_types_and_rules(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "GENIAcorpus3.02.xml"
    src.write_text(GENIA_XML, encoding="utf-8")
    rows = genia.convert(src, split_scheme="none", id_format="genia-{key}")["train"].to_list()
    assert [r["id"] for r in rows] == ["genia-0000-MEDLINE:1-0", "genia-0000-MEDLINE:1-1", "genia-0000-MEDLINE:1-2"]
    assert rows[0]["tokens"] == ["IL-2", "gene", "expression", "by", "5-lipoxygenase", "."]
    assert [(e["start"], e["end"], e["type"]) for e in rows[0]["entities"]] == [
        (0, 1, "protein"), (0, 2, "DNA"), (4, 5, "protein")]
    assert rows[1]["tokens"][:6] == ["In", "T", "cells", "and", "HIV", "regions,"]
    assert [(e["start"], e["end"], e["type"]) for e in rows[1]["entities"]] == [(1, 3, "cell_type"), (8, 9, "protein")]
    assert rows[2]["tokens"] == ["p50", "and", "NF", "(x)"]
    assert [(e["start"], e["end"], e["type"]) for e in rows[2]["entities"]] == [(0, 1, "RNA"), (2, 3, "protein")]
    out = capsys.readouterr().out
    for line in ("DROPPED 1 coordinated terms", "DROPPED 1 <cons> without sem", "DROPPED 1 <cons> of other classes",
                 "DROPPED 1 same-span <cons> of another type", "DROPPED 1 exact duplicate entities"):
        assert line in out


def test_genia_split_rule_and_errors(tmp_path: Path) -> None:
    assert [genia.w2ner_split(i) for i in (0, 1, 4, 6672, 6676, 16691, 16692, 18545)] == [
        "dev", "train", "dev", "dev", "train", "train", "test", "test"]
    src = tmp_path / "g.xml"
    src.write_text(GENIA_XML, encoding="utf-8")
    with pytest.raises(ValueError, match="3 sentences, but the W2NER split"):
        genia.convert(src, report=False)
    src.write_text(GENIA_XML.replace("</set>", ""), encoding="utf-8")
    with pytest.raises(ValueError, match=r"g\.xml: line \d+: invalid XML"):
        genia.convert(src, split_scheme="none", report=False)


# ------------------------------------------------------------------ w2ner

W2NER = [
    {"sentence": ["Muscle", "aches", "and", "weakness", "in", "neck", ",", "arms"],
     "ner": [{"index": [3, 4, 7], "type": "ADR"}, {"index": [0, 1], "type": "ADR"},
             {"index": [3, 4, 5], "type": "ADR"}, {"index": [1, 0], "type": "ADR"}]},
    {"sentence": ["No", "problem", "."], "ner": []},
]


def test_w2ner_fragments_sorting_and_duplicates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    dd = w2ner.convert(dump(tmp_path / "train.json", W2NER), id_format="cadec-{split}-{key}")
    ents = dd["train"][0]["entities"]
    assert [(e["start"], e["end"], e["fragments"]) for e in ents] == [
        (0, 2, []), (3, 6, []), (3, 8, [[3, 5], [7, 8]])]
    st = common.statistics(dd["train"].to_list())
    assert (st["discontinuous"], st["crossing pairs"], st["sentences"]) == (1, 1, 2)
    assert "DROPPED 1 exact duplicate entities" in capsys.readouterr().out
    common.write(dd, tmp_path / "out", "jsonl")
    rows = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert rows[0]["entities"][0] == {"start": 0, "end": 2, "type": "ADR"}
    assert rows[0]["entities"][2]["fragments"] == [[3, 5], [7, 8]]
    assert rows[1] == {"id": "cadec-train-1", "tokens": ["No", "problem", "."], "entities": [], "relations": []}


def test_w2ner_bad_index(tmp_path: Path) -> None:
    bad = [W2NER[1], {"sentence": ["a", "b"], "ner": [{"index": [0, 1, 1], "type": "ADR"}]}]
    with pytest.raises(ValueError, match="record 1, ner 0: .*overlapping fragments"):
        w2ner.convert(dump(tmp_path / "x.json", bad), report=False)
    bad = [{"sentence": ["a", "b"], "ner": [{"index": [0, 2], "type": "ADR"}]}]
    with pytest.raises(ValueError, match="record 0: entity 0: span"):
        w2ner.convert(dump(tmp_path / "x.json", bad), report=False)


# ------------------------------------------------------------------ conll

def conll_file(tmp_path: Path, tags: str, name: str = "eng.train") -> Path:
    """A column file: tokens t0.. with the given space-separated tags, one sentence."""
    lines = ["-DOCSTART- -X- O O", ""] + [f"t{i} NN I-NP {tag}" for i, tag in enumerate(tags.split())]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("scheme,tags,spans", [
    ("bio", "B-PER I-PER O B-LOC B-LOC I-LOC", [(0, 2, "PER"), (3, 4, "LOC"), (4, 6, "LOC")]),
    ("iob1", "I-PER I-PER O I-LOC B-LOC I-LOC I-ORG", [(0, 2, "PER"), (3, 4, "LOC"), (4, 6, "LOC"), (6, 7, "ORG")]),
    ("bioes", "B-PER E-PER O S-LOC B-LOC I-LOC E-LOC", [(0, 2, "PER"), (3, 4, "LOC"), (4, 7, "LOC")]),
    ("bioes", "U-PER B-ORG L-ORG", [(0, 1, "PER"), (1, 3, "ORG")]),
])
def test_conll_schemes(tmp_path: Path, scheme: str, tags: str, spans: list) -> None:
    dd = conll.convert(conll_file(tmp_path, tags), scheme=scheme, report=False)
    assert [(e["start"], e["end"], e["type"]) for e in dd["train"][0]["entities"]] == spans
    assert dd["train"][0]["tokens"][0] == "t0" and dd["train"][0]["relations"] == []


@pytest.mark.parametrize("scheme,tags,message", [
    ("bio", "O I-PER", "line 4: tag 'I-PER' after 'O' is invalid in BIO"),
    ("bio", "B-PER I-LOC", "line 4: tag 'I-LOC' after 'B-PER'"),
    ("iob1", "I-PER B-LOC", "line 4: tag 'B-LOC' after 'I-PER' is invalid in IOB1"),
    ("bioes", "B-PER O", "line 4: tag 'O' after 'B-PER' is invalid in BIOES"),
    ("bioes", "B-PER", "line 4: tag 'end of sentence'"),
    ("bio", "O X-PER", "line 4: unknown tag 'X-PER'"),
    ("bio", "PER", "line 3: unknown tag 'PER'"),
])
def test_conll_invalid_tags(tmp_path: Path, scheme: str, tags: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"eng.train: {message}"):
        conll.convert(conll_file(tmp_path, tags), scheme=scheme, report=False)


def test_conll_directory_with_conll2003_names(tmp_path: Path) -> None:
    conll_file(tmp_path, "I-ORG O", "eng.train")
    conll_file(tmp_path, "O I-MISC", "eng.testa")
    conll_file(tmp_path, "I-PER I-PER", "eng.testb")
    dd = conll.convert(tmp_path, scheme="iob1", report=False)
    assert list(dd) == ["train", "dev", "test"]
    assert dd["test"][0]["entities"] == [{"start": 0, "end": 2, "type": "PER", "fragments": []}]


# ------------------------------------------------------------------ biorelex

BIORELEX = [{
    "id": "s0", "paperid": "p", "text": "Cdc42 binds the WASP protein (WASP), but not p21 or Rac.",
    "entities": [
        {"label": "protein", "is_mentioned": True, "names": {"Cdc42": {"is_mentioned": True, "mentions": [[0, 5]]}}},
        {"label": "protein", "is_mentioned": True, "names": {
            "WASP": {"is_mentioned": True, "mentions": [[16, 20], [30, 34]]},
            "WASP protein": {"is_mentioned": True, "mentions": [[16, 28]]}}},
        {"label": "protein", "is_mentioned": True, "names": {"p21": {"is_mentioned": True, "mentions": [[45, 48]]}}},
        {"label": "protein", "is_mentioned": False, "names": {"Rho": {"is_mentioned": False, "mentions": []}}},
    ],
    "interactions": [
        {"participants": [0, 1], "type": "bind", "label": 1, "implicit": False},
        {"participants": [0, 2], "type": "bind", "label": -1, "implicit": False},
        {"participants": [0, 3], "type": "bind", "label": 1, "implicit": True},
    ]}]


def test_biorelex_clusters_and_interactions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    row = biorelex.convert(dump(tmp_path / "1.0alpha7.train.json", BIORELEX), id_format="{key}")["train"][0]
    assert row["id"] == "s0"
    assert row["tokens"] == ["Cdc42", "binds", "the", "WASP", "protein", "(", "WASP", "),", "but", "not",
                             "p21", "or", "Rac."]
    assert [(e["start"], e["end"]) for e in row["entities"]] == [(0, 1), (3, 4), (6, 7), (3, 5), (10, 11)]
    assert row["relations"] == [{"head": 0, "tail": t, "type": "bind"} for t in (1, 2, 3)]
    out = capsys.readouterr().out
    assert "DROPPED 1 interactions with label -1" in out
    assert "DROPPED 1 interactions with a participant that has no mention" in out
    rows = biorelex.convert(tmp_path / "1.0alpha7.train.json", labels="all", report=False)["train"][0]
    assert rows["relations"][-1] == {"head": 0, "tail": 4, "type": "bind:negative"}


def test_biorelex_bad_mention(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(BIORELEX))
    bad[0]["entities"][2]["names"]["p21"]["mentions"] = [[45, 99]]
    with pytest.raises(ValueError, match=r"record 0, entity 2: mention \[45, 99\]"):
        biorelex.convert(dump(tmp_path / "dev.json", bad), report=False)


# ------------------------------------------------------------------ nyt


def test_nyt_casrel_and_tplinker(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    text = "Bard College in Annandale-on-Hudson , N.Y. , near Bard"
    casrel = [{"text": text, "triple_list": [
        ["Annandale-on-Hudson", "/location/location/contains", "Bard College"],
        ["Annandale-on-Hudson", "/location/location/contains", "Bard College"],
        ["N.Y.", "/location/location/contains", "Annandale-on-Hudson"]]}]
    row = nyt.convert(dump(tmp_path / "train_triples.json", casrel), report=True)["train"][0]
    assert [(e["start"], e["end"], e["type"]) for e in row["entities"]] == [
        (0, 2, "ENTITY"), (3, 4, "ENTITY"), (5, 6, "ENTITY")]
    assert row["relations"] == [{"head": 1, "tail": 0, "type": "/location/location/contains"},
                                {"head": 2, "tail": 1, "type": "/location/location/contains"}]
    assert "DROPPED 1 exact duplicate triples" in capsys.readouterr().out
    tplinker = [{"id": "t7", "text": text, "relation_list": [
        {"subject": "Bard", "object": "N.Y.", "predicate": "/x", "subj_char_span": [50, 54], "obj_char_span": [38, 42]}],
        "entity_list": [{"text": "Bard", "type": "DEFAULT", "char_span": [50, 54]}]}]
    row = nyt.convert(dump(tmp_path / "t.json", tplinker), id_format="nyt-{key}", report=False)["train"][0]
    assert row["id"] == "nyt-t7"
    assert [(e["start"], e["end"], e["type"]) for e in row["entities"]] == [(5, 6, "ENTITY"), (8, 9, "DEFAULT")]
    assert row["relations"] == [{"head": 1, "tail": 0, "type": "/x"}]


def test_nyt_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="record 0: object 'Boston' is not in the sentence's tokens"):
        nyt.convert(dump(tmp_path / "a.json", [{"text": "A in B", "triple_list": [["A", "/r", "Boston"]]}]))
    bad = [{"text": "A in B", "relation_list": [
        {"subject": "A", "object": "B", "predicate": "/r", "subj_char_span": [0, 1], "obj_char_span": [4, 6]}]}]
    with pytest.raises(ValueError, match=r"char span \[4, 6\] does not align"):
        nyt.convert(dump(tmp_path / "b.json", bad))


# ------------------------------------------------------------------ shared data


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.parametrize("name,split,expected", [
    ("conll04", "train", {"sentences": 922, "entities": 3377, "relations": 1283, "nested pairs": 0}),
    ("scierc", "dev", {"sentences": 275, "entities": 811, "relations": 455, "nested pairs": 7}),
    ("cadec", "dev", {"sentences": 1097, "entities": 898, "discontinuous": 94, "crossing pairs": 126,
                      "sentences with overlap": 50}),
    ("genia", "dev", {"sentences": 1669, "entities": 5365, "nested pairs": 588, "sentences with overlap": 391}),
])
def test_shared_data_matches_readme_tables(name: str, split: str, expected: dict) -> None:
    records = read_jsonl(shared(name) / f"{split}.jsonl")
    for i, rec in enumerate(records):
        common.validate(rec, name, f"line {i + 1}")
    st = common.statistics(records)
    assert {k: st[k] for k in expected} == expected
    dd = common.to_dataset_dict({split: records[:50]})
    assert dd[split].features == common.FEATURES
    assert [common.to_jsonl_record(r) for r in dd[split]] == [
        common.to_jsonl_record({**r, "entities": [common.entity(e["start"], e["end"], e["type"], e.get("fragments", ()))
                                                  for e in r["entities"]]}) for r in records[:50]]
