"""Builders of damaged inputs for the tests, one module per kind of input."""
