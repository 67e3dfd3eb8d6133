"""Page sections too big for a page script, one module per feature."""
