"""The Quality tab: deletion/insertion curves and mask scores per model, for one image and for a folder."""
