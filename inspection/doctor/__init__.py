"""`station doctor`: checks the machine and the configured peers, each line with its fix."""
