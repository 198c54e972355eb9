"""stages.curate."""
