"""Egocentric human video: the algorithms behind the ingest, perception, curation and
retargeting stages (plain modules, no Ray)."""
