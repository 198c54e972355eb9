"""Stages: curation."""
