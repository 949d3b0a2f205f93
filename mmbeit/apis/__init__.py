"""High-level entry points (the demo pipeline)."""
