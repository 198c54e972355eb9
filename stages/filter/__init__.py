"""datapipe.stages.filter."""
