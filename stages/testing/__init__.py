"""Stages: testing."""
