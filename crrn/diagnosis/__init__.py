"""Printer-defect diagnosis: features from anomaly maps, the defect classifier and the per-printer policy."""
