"""Reading GENESIS YAML configs without GENESIS: schema, defaults, coercion and findings."""

from reporter.config.loader import LoadedConfig, load_config, load_config_mapping

__all__ = ["LoadedConfig", "load_config", "load_config_mapping"]
