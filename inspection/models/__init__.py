"""Model management on the station: the registry of model files with promotion gates and rollback
(`registry`), and shadow runs of a candidate beside the production model (`shadow`).
"""
