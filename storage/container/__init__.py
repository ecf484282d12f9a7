"""The segmented AEAD container: streaming AES-256-GCM with random-access reads.

docs/format.md is the normative spec; this module implements it. Layout::

    header (48 bytes) = magic "VERP" | version u8 | segment_size u32be | salt[32] | prefix[7]
    segment i         = AES-256-GCM(subkey, nonce_i, plaintext_i, ad) (plaintext + 16-byte tag)
    subkey            = HKDF-SHA256(ikm=data_key, salt=salt, info="verp/segment-key/v1")
    nonce_i           = prefix[7] | i u32be | last u8 (1 for the final segment, else 0)
    ad                = header | "verp/binding/v1" | len-prefixed site, clip, rendition

Every failure while reading raises the single opaque :class:`DecryptionError`, with no
chained cause (``from None``): a logged traceback must not tell a failed tag from a
short read.

The package's modules: ``layout`` (sizes, header, binding, nonces, subkeys), ``writer``
(encryption), ``reader`` (sequential decryption), ``ranges`` (random access). Import
from here.
"""

from storage.container.layout import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    KEY_SIZE,
    MAGIC,
    MAX_SEGMENT_SIZE,
    MAX_SEGMENTS,
    MIN_SEGMENT_SIZE,
    PIPELINE_MIN_SEGMENT,
    PREFIX_SIZE,
    SALT_SIZE,
    TAG_SIZE,
    VERSION,
    Binding,
    Header,
    Writable,
    ciphertext_size,
    plaintext_size,
    segment_count,
)
from storage.container.ranges import Fetch, RangeDecryptor
from storage.container.reader import decrypt_stream, iter_decrypt
from storage.container.writer import EncryptingWriter, encrypt_stream

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "HEADER_SIZE",
    "KEY_SIZE",
    "MAGIC",
    "MAX_SEGMENTS",
    "MAX_SEGMENT_SIZE",
    "MIN_SEGMENT_SIZE",
    "PIPELINE_MIN_SEGMENT",
    "PREFIX_SIZE",
    "SALT_SIZE",
    "TAG_SIZE",
    "VERSION",
    "Binding",
    "EncryptingWriter",
    "Fetch",
    "Header",
    "RangeDecryptor",
    "Writable",
    "ciphertext_size",
    "decrypt_stream",
    "encrypt_stream",
    "iter_decrypt",
    "plaintext_size",
    "segment_count",
]
