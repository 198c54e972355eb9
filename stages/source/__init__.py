"""datapipe.stages.source."""
