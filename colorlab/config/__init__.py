"""Training configurations: :class:`TrainConfig` (:mod:`colorlab.config.schema`) and the named
presets of the source material (:mod:`colorlab.config.presets`)."""

from __future__ import annotations

from colorlab.config.presets import PRESET_VARIANTS, PRESETS, Preset, get_preset
from colorlab.config.schema import TRAINERS, TrainConfig, apply_overrides
from colorlab.errors import ConfigError

__all__ = [
    "TrainConfig",
    "TRAINERS",
    "apply_overrides",
    "ConfigError",
    "Preset",
    "PRESETS",
    "PRESET_VARIANTS",
    "get_preset",
]
