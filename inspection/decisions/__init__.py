"""Decisions people make that change what ships or how the process runs: model promotion and rollback,
controller proposals, SPC baselines. Each is role-checked and audited here, for the console and the CLI alike."""
