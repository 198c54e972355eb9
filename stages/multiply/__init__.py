"""stages.multiply."""
