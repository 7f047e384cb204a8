"""The Training tab: the form, the trainer as a child process, and its live curves."""
