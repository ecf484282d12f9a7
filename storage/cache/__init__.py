"""Per-process caches for playback: unwrapped data keys, container headers and the
ciphertext of blobs on a remote store."""

from storage.cache.ciphertext import CiphertextCache
from storage.cache.data_keys import DataKeyCache
from storage.cache.headers import HeaderCache

__all__ = ["CiphertextCache", "DataKeyCache", "HeaderCache"]
