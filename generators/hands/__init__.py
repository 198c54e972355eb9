"""generators.hands."""
