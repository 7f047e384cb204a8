"""Builders of bad and unusual inputs for tests, one module per kind of input."""
