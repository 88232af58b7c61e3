"""CoNLL-2003-style column files -> project schema (flat NER, no relations).

Source: one token a line, whitespace-separated columns (token first, tag last by
default), blank lines between sentences, ``-DOCSTART-`` lines between documents
(skipped, counted).  Tag schemes:

* ``bio`` (IOB2): ``B-X`` begins, ``I-X`` continues a B-X/I-X of the same type;
* ``iob1`` (original CoNLL-2003): ``I-X`` begins or continues, ``B-X`` only begins an
  entity that directly follows one of the same type;
* ``bioes`` (also BILOU): ``B``/``I``/``E`` for multi-token, ``S`` (``U``) for single-token
  entities (``L`` = ``E``).

An unknown tag or an invalid sequence is a ``ValueError`` naming file and line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import datasets

from dataset_scripts import common

SCHEMES = {"bio": "BI", "iob1": "BI", "bioes": "BIESLU"}


class _Decoder:
    """Turns one sentence's tags into ``[start, end, type]`` spans, checking the scheme."""

    def __init__(self, scheme: str, path: Path) -> None:
        self.scheme, self.path = scheme, path
        self.spans: list[list] = []
        self.open = False  # whether spans[-1] may still grow

    def fail(self, lineno: int, tag: str, previous: str, why: str) -> None:
        raise common.ConversionError(self.path, f"line {lineno}",
                                     f"tag {tag!r} after {previous!r} is invalid in {self.scheme.upper()}: {why}")

    def feed(self, i: int, tag: str, previous: str, lineno: int) -> None:
        """Consume the tag of token ``i`` (``previous`` is the tag before it, or ``O``)."""
        if tag == "O":
            if self.scheme == "bioes" and self.open:
                self.fail(lineno, tag, previous, "the entity before was not closed with E-")
            self.open = False
            return
        prefix, sep, type_ = tag.partition("-")
        if not sep or not type_ or prefix not in SCHEMES[self.scheme]:
            raise common.ConversionError(self.path, f"line {lineno}", f"unknown tag {tag!r} for scheme "
                                         f"{self.scheme.upper()} (expected O or one of "
                                         f"{', '.join(p + '-TYPE' for p in SCHEMES[self.scheme])})")
        prefix = {"L": "E", "U": "S"}.get(prefix, prefix)
        same = self.open and self.spans[-1][2] == type_
        if self.scheme == "bio":
            begins = prefix == "B"
            if not begins and not same:
                self.fail(lineno, tag, previous, f"I-{type_} must follow B-{type_} or I-{type_}")
        elif self.scheme == "iob1":
            begins = prefix == "B" or not same
            if prefix == "B" and not same:
                self.fail(lineno, tag, previous, f"B-{type_} may only follow an entity of type {type_}")
        else:
            begins = prefix in "BS"
            if begins and self.open:
                self.fail(lineno, tag, previous, "the entity before was not closed with E-")
            if not begins and not same:
                self.fail(lineno, tag, previous, f"{prefix}-{type_} must continue B-{type_} or I-{type_}")
        if begins:
            self.spans.append([i, i + 1, type_])
        else:
            self.spans[-1][1] = i + 1
        self.open = not (self.scheme == "bioes" and prefix in "ES")

    def close(self, lineno: int, previous: str) -> list[list]:
        """End the sentence; BIOES must not leave an entity open."""
        if self.scheme == "bioes" and self.open:
            self.fail(lineno, "end of sentence", previous, "the entity was not closed with E-")
        return self.spans


def read_split(path: Path, split: str, *, id_format: str = common.DEFAULT_ID_FORMAT, scheme: str = "bio",
               token_column: int = 0, tag_column: int = -1) -> common.Split:
    """Convert one column file; the id key is the sentence position."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    out = common.Split()
    rows: list[tuple[int, str, str]] = []

    def flush(lineno: int) -> None:
        if not rows:
            return
        decoder = _Decoder(scheme, path)
        previous = "O"
        for i, (tag_line, _, tag) in enumerate(rows):
            decoder.feed(i, tag, previous, tag_line)
            previous = tag
        spans = decoder.close(lineno, previous)
        record = {"id": common.make_id(id_format, split, len(out.records)), "tokens": [t for _, t, _ in rows],
                  "entities": [common.entity(s, e, t) for s, e, t in spans], "relations": []}
        out.add(record, path, f"line {rows[0][0]}")
        rows.clear()

    lines = path.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, 1):
        columns = line.split()
        if not columns:
            flush(lineno)
        elif columns[0] == "-DOCSTART-":
            flush(lineno)
            out.notes["-DOCSTART- lines skipped"] += 1
        else:
            try:
                rows.append((lineno, columns[token_column], columns[tag_column]))
            except IndexError:
                raise common.ConversionError(path, f"line {lineno}", f"{len(columns)} column(s), need token column "
                                             f"{token_column} and tag column {tag_column}") from None
    flush(len(lines) + 1)
    return out


def convert(src: Path | str, *, split_name: str | None = None, id_format: str = common.DEFAULT_ID_FORMAT,
            scheme: str = "bio", token_column: int = 0, tag_column: int = -1,
            report: bool = True) -> datasets.DatasetDict:
    """Convert a column file or a directory of split files (any name, e.g. ``eng.testa``)."""
    return common.convert_source(src, read_split, ("",),
                                 split_name=split_name, report=report, id_format=id_format,
                                 scheme=scheme, token_column=token_column, tag_column=tag_column)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CoNLL's own options: tag scheme and columns."""
    parser.add_argument("--scheme", choices=tuple(SCHEMES), default="bio", help="tag scheme of the files")
    parser.add_argument("--token-column", type=int, default=0, help="column of the token (default 0)")
    parser.add_argument("--tag-column", type=int, default=-1, help="column of the tag (default -1, the last)")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: ``python -m dataset_scripts.conll SRC OUT --scheme iob1``."""
    return common.main(convert, __doc__.splitlines()[0], argv, add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
