"""The Compare tab: the original and one panel per model side by side, the shared controls, and the explanation controller that asks the worker for maps."""
