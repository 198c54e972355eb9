"""Runners: execute a :class:`~datapipe.plan.RunPlan` locally (no Ray) or on Ray Data."""
