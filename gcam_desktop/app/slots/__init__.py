"""The model slots: one card per slot (architecture, checkpoint, metadata, on/off) and the set of slots kept in step with the worker and the settings."""
