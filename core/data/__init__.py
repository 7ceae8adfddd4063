"""Pairs in and out: reading files, recognising formats, importing, exporting, datasets, demo data."""
