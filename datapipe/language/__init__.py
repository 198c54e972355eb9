"""Instruction text (tier 2): cleaning, placeholders and the one object check (``text``),
variants from templates and synonyms (``variants``), and the rewriters that ask a chat endpoint or
a local model (``rewriters``)."""
