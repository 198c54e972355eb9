"""Stages: sources."""
