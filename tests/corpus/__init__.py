"""Builders of bad input for the tests, one module per kind (runs.py: damaged run folders)."""
