"""Per-process caches for playback: unwrapped data keys and container headers."""

from storage.cache.data_keys import DataKeyCache
from storage.cache.headers import HeaderCache

__all__ = ["DataKeyCache", "HeaderCache"]
