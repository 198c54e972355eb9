"""Instruction text (tier 2): cleaning and checks of task texts (``task_text``), object checks,
variants and rewriters (``instructions``)."""
