"""stages.source."""
