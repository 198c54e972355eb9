"""stages.filter."""
