"""Tools that drive the real app: the self-test and the start-up benchmark."""
