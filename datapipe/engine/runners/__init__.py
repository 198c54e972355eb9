"""Runners: execute a :class:`~datapipe.engine.plan.RunPlan` locally (no Ray) or on Ray Data."""
