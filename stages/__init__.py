"""Processing stages shipped with datapipe: sources, perception, curation, retargeting,
augmentation, sinks. Each is registered by name in ``pyproject.toml`` (entry points of the group
``datapipe.stages``); nothing registers on import."""
