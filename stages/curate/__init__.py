"""datapipe.stages.curate."""
