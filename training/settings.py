"""`KEY=VALUE` settings on the command line (`station bench --set`, `training.ship --set`)."""

from __future__ import annotations

__all__ = ["parse_setting"]


def parse_setting(item: str) -> tuple[str, object]:
    """`KEY=VALUE` → (key, value read as YAML: `2` → int, `true` → bool, as in a YAML file). ValueError if
    there is no `=` or no key."""
    import yaml

    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{item!r}: expected KEY=VALUE")
    return key.strip(), yaml.safe_load(value)
