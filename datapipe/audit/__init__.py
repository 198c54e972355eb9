"""Dataset audit: streaming summaries, anomaly findings and a self-contained HTML report."""
