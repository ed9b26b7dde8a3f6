"""Adapters: found through the `inspection.adapters` entry-point group (see docs/plugins.md)."""
