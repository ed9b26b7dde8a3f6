"""Real data set converters and the bundled demo samples (synthetic parts: `inspection.simulation.synthetic`)."""
