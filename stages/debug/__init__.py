"""stages.debug."""
