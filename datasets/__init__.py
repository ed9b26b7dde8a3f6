"""Synthetic defect generators, real data set converters and small bundled samples."""
