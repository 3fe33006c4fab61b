"""Exceptions shared by several modules (kept here so that no module imports another for them)."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A configuration value, override or preset name that cannot be used."""
