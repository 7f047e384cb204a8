"""Export: the current comparison as a PNG with raw maps, and batch export of a folder."""
