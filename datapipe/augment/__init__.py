"""Per-episode augmentation algorithms (tier 2), what the ``augment.*`` stages wrap: derived
episodes and their lineage (``derived``), backgrounds, photometric presets, inpainting and
ground-truth conversations. Heavy libraries (kornia, diffusers) load only where used."""
