"""Stages: sinks."""
