"""The inference worker thread that owns the models, the UI-side service around it, and the plain messages between them."""
