"""datapipe.generators.hands."""
