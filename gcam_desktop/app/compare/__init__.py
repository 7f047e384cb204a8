"""The Compare tab: the original and one panel per model side by side, the shared controls, and the coordinator that asks the worker for maps."""
