"""datapipe.stages.sink."""
