"""datapipe.generators.retarget."""
