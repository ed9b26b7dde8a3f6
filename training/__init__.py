"""Training, evaluation and the shipped-model recipes of the inspection station."""
