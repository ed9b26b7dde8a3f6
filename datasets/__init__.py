"""Synthetic defect generators, real-data converters and dataset descriptors."""
