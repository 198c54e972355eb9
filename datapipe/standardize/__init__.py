"""One convention for every dataset family (tier 2): action spaces, units and grippers
(``action_space``), and the declarative per-dataset config that converts an episode
(``standard``); one error type (``errors``)."""

from datapipe.standardize.standard import DatasetStandard, StandardizeError, standard_from_dict, standardize

__all__ = ["DatasetStandard", "StandardizeError", "standard_from_dict", "standardize"]
