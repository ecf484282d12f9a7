"""Settings for verp: defaults in ``default.toml``, overridden by ``VERP_*`` variables.

This package is the only code that reads ``os.environ``; everything else receives a
frozen :class:`Settings` built by :func:`load_settings`.
"""

from config.settings import ENV_MAP, Settings, load_settings
from config.values import SettingsError

__all__ = ["ENV_MAP", "Settings", "SettingsError", "load_settings"]
