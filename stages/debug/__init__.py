"""datapipe.stages.debug."""
