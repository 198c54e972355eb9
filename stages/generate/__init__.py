"""stages.generate."""
