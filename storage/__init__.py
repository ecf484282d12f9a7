"""Encrypted storage core: container format, keys, blob stores, metadata DB, governance."""
