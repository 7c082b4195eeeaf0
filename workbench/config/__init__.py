"""Job configs: the TOML schema, loading with overrides, validation before launch."""

from workbench.config.loader import load_config, parse_overrides
from workbench.config.schema import SCHEMA

__all__ = ["SCHEMA", "load_config", "parse_overrides"]
