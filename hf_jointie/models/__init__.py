"""One sub-package per architecture, laid out like `transformers/models/<arch>/`."""
