"""datapipe.stages.multiply."""
