"""Judgments measured against labels: the metrics, and the reports built from the store."""
