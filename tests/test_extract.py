"""`python -m hf_jointie.extract`: rows equal the pipeline's, every input format, bad rows, resume after a kill at
any point gives the same bytes, and two processes under `accelerate launch` write what one does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import strip_scores
from datasets import Dataset
from test_pipeline import saved_model  # noqa: F401  (the overfit ITER model, a module fixture)
from transformers import pipeline

from hf_jointie import extract

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["John Smith lives in Boston.", "Mary works for Acme Corp in New York City.", "",
         "Acme Corp hired Johnsonville from Boston.", "Nothing happened here. John Smith lives in Boston."]
#: 23 rows: texts (one empty), rows 5 and 9 bad (no text column; a null).
ROWS = [{"id": f"doc-{i}", "text": TEXTS[i % len(TEXTS)]} for i in range(23)]
ROWS[5] = {"id": "doc-5", "body": "no text column"}
ROWS[9] = {"id": "doc-9", "text": None}
GOOD = [i for i, row in enumerate(ROWS) if isinstance(row.get("text"), str)]


@pytest.fixture(scope="module")
def model_dir(saved_model):  # noqa: F811
    return str(saved_model)


@pytest.fixture(scope="module")
def ie(model_dir):
    return pipeline("joint-ie", model=model_dir)


@pytest.fixture()
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return path


def _run(model_dir, source: list[str], output, *options: str):
    argv = ["--model", model_dir, *source, "--output", str(output), "--chunk_size", "4", *options]
    return extract.run(extract.HfArgumentParser(extract.ExtractArguments).parse_args_into_dataclasses(argv)[0])


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1"}


def test_rows_are_the_pipeline_predictions_in_input_order(model_dir, ie, corpus, tmp_path, capsys):
    extract.main(["--model", model_dir, "--input", str(corpus), "--output", str(tmp_path / "out"), "--chunk_size", "4"])
    summary_line = capsys.readouterr().out
    rows = list(extract.read_predictions(tmp_path / "out" / "predictions.jsonl"))
    assert [row["id"] for row in rows] == [ROWS[i]["id"] for i in GOOD]
    for row, i in zip(rows, GOOD):
        expected = ie(ROWS[i]["text"]) if ROWS[i]["text"] else {"entities": [], "relations": []}
        assert strip_scores(row) == strip_scores(expected)
        assert [e["score"] for e in row["entities"]] == pytest.approx([e["score"] for e in expected["entities"]])
    assert sum(len(row["relations"]) for row in rows) > 0
    bad = [json.loads(line) for line in (tmp_path / "out" / "bad_rows.jsonl").read_text().splitlines()]
    assert bad == [{"row": 5, "reason": "no 'text' column"}, {"row": 9, "reason": "'text' is null, not text"}]
    entities, relations = sum(len(r["entities"]) for r in rows), sum(len(r["relations"]) for r in rows)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["rows"], summary["bad_rows"], summary["entities"], summary["relations"]) == (23, 2, entities,
                                                                                                 relations)
    assert f"23 rows (23 this run), {entities} entities, {relations} relations, 2 bad rows skipped" in summary_line
    assert "rows/s" in summary_line
    assert not (tmp_path / "out" / "parts").exists()
    pairs = list(extract.texts_and_predictions(extract.ExtractArguments(model=model_dir, input=str(corpus),
                                                                        output=str(tmp_path / "out"))))
    assert [text for text, _ in pairs] == [ROWS[i]["text"] for i in GOOD]
    assert [prediction for _, prediction in pairs] == [{k: row[k] for k in ("entities", "relations")} for row in rows]


def test_every_input_format_gives_the_same_predictions(model_dir, corpus, tmp_path):
    _run(model_dir, ["--input", str(corpus)], tmp_path / "jsonl")
    expected = list(extract.read_predictions(tmp_path / "jsonl" / "predictions.jsonl"))
    good = [{"id": row["id"], "text": row["text"]} for row in ROWS if isinstance(row.get("text"), str)]
    pq.write_table(pa.Table.from_pylist(good), tmp_path / "corpus.parquet")
    Dataset.from_list(good).save_to_disk(tmp_path / "saved")
    (tmp_path / "corpus.txt").write_text("".join(row["text"] + "\n" for row in good))
    (tmp_path / "json_dir").mkdir()
    (tmp_path / "json_dir" / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in good))
    for name, source in [("parquet", ["--input", str(tmp_path / "corpus.parquet")]),
                         ("saved", ["--dataset", str(tmp_path / "saved")]),
                         ("json_dir", ["--dataset", str(tmp_path / "json_dir")])]:
        _run(model_dir, source, tmp_path / f"out-{name}")
        assert list(extract.read_predictions(tmp_path / f"out-{name}" / "predictions.jsonl")) == expected, name
    _run(model_dir, ["--input", str(tmp_path / "corpus.txt")], tmp_path / "out-txt", "--format", "parquet")
    from_txt = list(extract.read_predictions(tmp_path / "out-txt" / "predictions.parquet"))
    assert [row["id"] for row in from_txt] == [str(i) for i in range(len(good))]  # the row number, as a string
    assert [{**row, "id": None} for row in from_txt] == [{**row, "id": None} for row in expected]


def test_bad_rows_can_fail_the_run_and_a_missing_column_fails_at_once(model_dir, corpus, tmp_path):
    with pytest.raises(ValueError, match="row 5: no 'text' column"):
        _run(model_dir, ["--input", str(corpus)], tmp_path / "fail", "--on_bad_row", "fail")
    assert not (tmp_path / "fail" / "predictions.jsonl").exists()
    pq.write_table(pa.Table.from_pylist([{"body": "x"}]), tmp_path / "corpus.parquet")
    with pytest.raises(ValueError, match="no column 'text'"):
        _run(model_dir, ["--input", str(tmp_path / "corpus.parquet")], tmp_path / "nocolumn")
    with pytest.raises(ValueError, match="exactly one of"):
        _run(model_dir, [], tmp_path / "nothing")
    with pytest.raises(ValueError, match="--fp16 needs a CUDA device"):
        _run(model_dir, ["--input", str(corpus)], tmp_path / "fp16", "--fp16")


def test_a_rerun_with_other_arguments_is_refused(model_dir, corpus, tmp_path):
    _run(model_dir, ["--input", str(corpus)], tmp_path / "out")
    with pytest.raises(ValueError, match="batch_size differ"):
        _run(model_dir, ["--input", str(corpus)], tmp_path / "out", "--batch_size", "2")
    # the same arguments: already finished, the summary is returned and nothing is redone
    summary = _run(model_dir, ["--input", str(corpus)], tmp_path / "out")
    assert (summary["rows"], summary["rows_this_run"]) == (23, 0)


class Crash(Exception):
    pass


def _crash_after(function, calls: int, half_write: bool = False):
    """`function`, raising `Crash` on call number `calls` (after writing half of its file when `half_write`)."""
    count = {"n": 0}

    def wrapped(*args):
        count["n"] += 1
        if count["n"] == calls:
            if half_write:
                function(*args)
                path = next(arg for arg in args if isinstance(arg, Path))  # the file being written
                path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
            raise Crash
        return function(*args)

    return wrapped


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("where, calls, half_write, resumed_rows", [
    ("_write_rows", 3, True, 8),  # in the middle of writing the third part
    ("_write_rows", 6, False, 20),  # before the last of 6 parts
    ("_merge", 1, True, 23),  # in the middle of the merge
])
def test_a_crash_at_any_point_then_a_rerun_gives_the_same_bytes(model_dir, corpus, tmp_path, monkeypatch, fmt,
                                                                   where, calls, half_write, resumed_rows):
    _run(model_dir, ["--input", str(corpus)], tmp_path / "whole", "--format", fmt)
    with monkeypatch.context() as patch:
        patch.setattr(extract, where, _crash_after(getattr(extract, where), calls, half_write))
        with pytest.raises(Crash):
            _run(model_dir, ["--input", str(corpus)], tmp_path / "resumed", "--format", fmt)
    assert not (tmp_path / "resumed" / f"predictions.{fmt}").exists()  # only its temporary file, if anything
    summary = _run(model_dir, ["--input", str(corpus)], tmp_path / "resumed", "--format", fmt)
    for name in (f"predictions.{fmt}", "bad_rows.jsonl"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert (summary["rows"], summary["rows_this_run"]) == (23, 23 - resumed_rows)


def test_killed_mid_run_and_restarted_gives_the_same_bytes(model_dir, corpus, tmp_path):
    """A real SIGKILL: the input is a FIFO fed by the test, so the process is killed while it waits for rows after it
    has written two parts (rows 0-7) and read part of the third chunk. The restart runs in this process."""
    _run(model_dir, ["--input", str(corpus)], tmp_path / "whole")
    fifo = tmp_path / "fifo" / "corpus.jsonl"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    process = subprocess.Popen([PYTHON, "-m", "hf_jointie.extract", "--model", model_dir, "--input", str(fifo),
                                "--output", str(tmp_path / "killed"), "--chunk_size", "4"],
                               env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with open(fifo, "w") as feed:  # blocks until the process opens its input
            feed.write("".join(json.dumps(row) + "\n" for row in ROWS[:10]))
            feed.flush()
            second = tmp_path / "killed" / "parts" / "part-000001.jsonl"
            deadline = time.monotonic() + 240
            while not second.exists() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert second.exists(), "the run did not write its second part"
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
    finally:
        process.kill()
    parts = sorted(path.name for path in (tmp_path / "killed" / "parts").iterdir())
    assert parts == ["part-000000.json", "part-000000.jsonl", "part-000001.json", "part-000001.jsonl"]
    os.remove(fifo)
    fifo.write_bytes(corpus.read_bytes())  # the same path, now the whole corpus
    summary = _run(model_dir, ["--input", str(fifo)], tmp_path / "killed")
    assert (summary["rows"], summary["rows_this_run"]) == (23, 15)
    killed = (tmp_path / "killed" / "predictions.jsonl").read_bytes()
    assert killed == (tmp_path / "whole" / "predictions.jsonl").read_bytes()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_under_accelerate_write_what_one_writes(model_dir, corpus, tmp_path):
    _run(model_dir, ["--input", str(corpus)], tmp_path / "one")
    # `--cpu --num_processes 2` starts ONE process unless MPI is set up; `--multi_gpu` starts two through torchrun,
    # and ACCELERATE_USE_CPU keeps them on the CPU (gloo), also on a machine with GPUs
    done = subprocess.run([PYTHON, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                           "--main_process_port", str(_free_port()), "-m", "hf_jointie.extract", "--model", model_dir,
                           "--input", str(corpus), "--output", str(tmp_path / "two"), "--chunk_size", "4"],
                          env={**_env(), "ACCELERATE_USE_CPU": "true"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("extract: 23 rows (23 this run)") == 1, done.stdout  # one summary, on the main process
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["processes"] == 2
    two, one = (tmp_path / name / "predictions.jsonl" for name in ("two", "one"))
    assert two.read_bytes() == one.read_bytes()


def test_html_view_of_the_first_rows(model_dir, corpus, tmp_path, capsys):
    view = tmp_path / "view.html"
    extract.main(["--model", model_dir, "--input", str(corpus), "--output", str(tmp_path / "out"), "--chunk_size", "4",
                  "--html", str(view), "--html_rows", "4"])
    assert f"extract: HTML view of 4 rows -> {view}" in capsys.readouterr().out
    rows = list(extract.read_predictions(tmp_path / "out" / "predictions.jsonl"))[:4]
    page = view.read_text(encoding="utf-8")
    shown = [entity["text"] for row in rows for entity in row["entities"]]
    assert shown and all(text in page for text in shown)
    assert "4 of 23 rows" in page  # the title: the rows shown and the rows read
    # --html does not change what a run is: the same output directory resumes without it
    extract.main(["--model", model_dir, "--input", str(corpus), "--output", str(tmp_path / "out"), "--chunk_size", "4"])
