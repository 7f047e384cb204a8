"""Corpora of bad input built by fixtures, one module per kind of file (see tests/conftest.py)."""
