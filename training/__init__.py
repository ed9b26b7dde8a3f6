"""Training, evaluation and the model registry (uses `inspection`, never imported by it)."""
