"""Test plugin for the inspection station (see ../pyproject.toml)."""
