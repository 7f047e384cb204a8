"""The Attention tab: the SE / s_se gates of the current image (view.py)."""
