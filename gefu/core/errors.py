"""The one error type for anything wrong in a user's config (benchmark or training)."""


class ConfigError(ValueError):
    """One clear message for everything wrong in a config."""
