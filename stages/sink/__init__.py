"""stages.sink."""
