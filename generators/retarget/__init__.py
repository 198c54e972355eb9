"""generators.retarget."""
