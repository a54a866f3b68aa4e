"""One module per CLI noun; each defines a single click command or group."""
