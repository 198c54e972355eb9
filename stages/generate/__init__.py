"""datapipe.stages.generate."""
