"""Converters from research-repo dataset formats to the project's JSONL schema.

One module per source format (``spert``, ``dygie``, ``genia``, ``w2ner``, ``conll``,
``biorelex``, ``nyt``), each with ``convert(src, ...) -> datasets.DatasetDict`` and a
CLI (``python -m dataset_scripts.<name> SRC OUT``); shared code is in ``common``.
"""

CONVERTERS = ("spert", "dygie", "genia", "w2ner", "conll", "biorelex", "nyt")
