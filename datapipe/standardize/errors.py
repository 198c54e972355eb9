"""The standardize room's one error type: :class:`StandardizeError`."""

from __future__ import annotations

from datapipe.errors import DatapipeError


class StandardizeError(DatapipeError):
    """An episode the config cannot standardize: names the dataset, the field and the value."""
