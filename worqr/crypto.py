"""Encrypted payloads: `AeadCodec` wraps any codec and stores its bytes encrypted and
authenticated, bound to the queue they were enqueued on (``pip install 'worqr[crypto]'``).

    from worqr.crypto import AeadCodec

    codec = AeadCodec(JsonCodec(Job), keys={"k2": key2, "k1": key1}, primary="k2")
    jobs = client.queue("jobs", codec)  # the view binds the codec to its prefix and queue

Wire format of one payload (all lengths in bytes)::

    format   1   0x01
    mode     1   0x01 random (AES-256-GCM), 0x02 deterministic (AES-SIV-512)
    id_len   1   1..255
    key_id   id_len   the key id, UTF-8
    nonce    12  random mode only
    sealed   rest     random: ciphertext || 16-byte tag; deterministic: 16-byte SIV || ciphertext

The associated data of every payload is its header (format, mode, key id) followed by the
prefix and the queue (each as a 4-byte big-endian length and UTF-8), so a payload moved to
another queue or prefix, or with any byte changed, fails to decode with `CodecError`.
See docs/security.md ("Payload encryption").
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Generic, Literal, TypeVar

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
except ImportError as exc:  # pragma: no cover (exercised in a subprocess by tests/test_crypto.py)
    msg = "worqr.crypto needs the 'cryptography' package: install the crypto extra, pip install 'worqr[crypto]'"
    raise ImportError(msg, name=exc.name) from exc

from worqr._protocol.codec import Codec
from worqr.errors import CodecError, InvalidArgumentError, InvalidTaskTypeError

__all__ = ["AeadCodec", "Mode"]

T = TypeVar("T")

#: ``"random"``: AES-256-GCM with a random 96-bit nonce (equal tasks give different bytes);
#: ``"deterministic"``: AES-SIV-512 (equal tasks under one key and queue give equal bytes).
Mode = Literal["random", "deterministic"]

FORMAT = 0x01
_MODE_BYTES: dict[str, int] = {"random": 0x01, "deterministic": 0x02}
_MODE_NAMES = {byte: name for name, byte in _MODE_BYTES.items()}
#: The key size of each mode, in bytes: AES-256-GCM, and AES-SIV with two 256-bit AES keys
#: (SIV-512; a 256-bit SIV key has a 128-bit MAC key, too little against multi-key attacks).
KEY_SIZES: dict[str, int] = {"random": 32, "deterministic": 64}
_CIPHER_NAMES = {"random": "AES-256-GCM", "deterministic": "AES-SIV-512"}
NONCE_SIZE = 12
TAG_SIZE = 16
MAX_KEY_ID_BYTES = 255

_UNMATCHABLE = (
    "mode='random' encrypts every task under a fresh random nonce, so equal tasks never give "
    "equal payloads and nothing can be matched; use AeadCodec(..., mode='deterministic') (AES-SIV, "
    "equal tasks give equal payloads under one key) for unique tasks, cancel and get_matching_processes"
)


def _check_key_id(key_id: object, what: str) -> bytes:
    if not isinstance(key_id, str) or not key_id:
        msg = f"{what} must be a non-empty str, got {type(key_id).__name__}: {key_id!r:.80}"
        raise InvalidArgumentError(msg)
    if not key_id.isprintable():
        msg = f"{what} {key_id!r:.80} holds a control character; key ids are shown in errors, so use printable text"
        raise InvalidArgumentError(msg)
    try:
        raw = key_id.encode("utf-8")
    except UnicodeEncodeError:
        msg = f"{what} {key_id!r:.80} is not valid Unicode text"
        raise InvalidArgumentError(msg) from None
    if len(raw) > MAX_KEY_ID_BYTES:
        msg = f"{what} {key_id!r:.80}... is {len(raw)} bytes in UTF-8; the limit is {MAX_KEY_ID_BYTES}"
        raise InvalidArgumentError(msg)
    return raw


def _check_key(key_id: str, key: object, mode: str) -> bytes:
    """``key`` as bytes of the mode's size. Errors name the key id and the size, never the key."""
    size, cipher = KEY_SIZES[mode], _CIPHER_NAMES[mode]
    if isinstance(key, str):
        msg = (
            f"key {key_id!r} is a str; a key is {size} random bytes (os.urandom({size})): "
            "decode a key kept as text first, e.g. bytes.fromhex(...) or base64.b64decode(...)"
        )
        raise InvalidArgumentError(msg)
    if not isinstance(key, bytes | bytearray | memoryview):
        msg = f"key {key_id!r} must be bytes ({size} random bytes, os.urandom({size})), got a {type(key).__name__}"
        raise InvalidArgumentError(msg)
    raw = bytes(key)
    if len(raw) != size:
        msg = (
            f"key {key_id!r} is {len(raw)} bytes; mode={mode!r} ({cipher}) takes keys of exactly {size} bytes "
            f"(os.urandom({size}))"
        )
        raise InvalidArgumentError(msg)
    if len(set(raw)) == 1:
        msg = f"key {key_id!r} is one byte repeated {size} times, not a random key; use os.urandom({size})"
        raise InvalidArgumentError(msg)
    return raw


def _context(prefix: str, queue: str) -> bytes:
    """The prefix and queue, unambiguously: each as a 4-byte length and its UTF-8."""
    parts = [prefix.encode("utf-8"), queue.encode("utf-8")]
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


class _Ring:
    """The ciphers of one codec's keys, by key id; the raw keys are not kept."""

    __slots__ = ("ciphers", "headers", "mode", "primary")

    def __init__(self, keys: Mapping[str, bytes], primary: str, mode: str) -> None:
        self.mode = mode
        self.primary = primary
        self.ciphers: dict[str, AESGCM | AESSIV] = {
            key_id: AESGCM(key) if mode == "random" else AESSIV(key) for key_id, key in keys.items()
        }
        mode_byte = _MODE_BYTES[mode]
        self.headers = {
            key_id: bytes([FORMAT, mode_byte, len(key_id.encode("utf-8"))]) + key_id.encode("utf-8") for key_id in keys
        }


class AeadCodec(Generic[T]):
    """Encrypts the payloads of ``inner`` (any codec) with authenticated encryption, bound to
    the prefix and queue of the view that uses it.

    Args:
        inner: the codec of the plaintext (`StrCodec`, `BytesCodec`, `JsonCodec(T)`, ...).
        keys: key id -> key: 32 bytes for ``mode="random"`` (AES-256-GCM), 64 bytes for
            ``mode="deterministic"`` (AES-SIV-512). Every key decrypts the payloads that name
            its id; keep old keys here until no payload encrypted under them is left.
        primary: the id of the key that encrypts; may be left out when ``keys`` has one key.
        mode: ``"random"`` (default): a random 96-bit nonce, so equal tasks give different
            payloads, and ``unique=True``, ``cancel`` and ``get_matching_processes`` are
            refused. ``"deterministic"``: equal tasks under one key and queue give equal
            payloads, so those work (and an observer sees which tasks are equal).

    A codec is bound when a view is made (``client.queue(name, codec)`` calls `bind`); an
    unbound one refuses to encode or decode. Bad keys, ids or modes raise
    `InvalidArgumentError` here. A payload that was changed, moved to another queue or
    prefix, or names a key id this codec does not have fails to decode with `CodecError`.
    Keys never appear in its repr or in any message.
    """

    __slots__ = ("_context", "_inner", "_prefix", "_queue", "_ring")

    def __init__(
        self,
        inner: Codec[T],
        *,
        keys: Mapping[str, bytes | bytearray],
        primary: str | None = None,
        mode: Mode = "random",
    ) -> None:
        # Checked at run time: callers are not always type-checked.
        codec: object = inner
        ring: object = keys
        if not isinstance(codec, Codec):
            msg = f"inner must be a codec (StrCodec(), BytesCodec(), JsonCodec(...)), got {type(inner).__name__}"
            raise InvalidArgumentError(msg)
        if mode not in _MODE_BYTES:
            msg = f"mode must be 'random' or 'deterministic', got {mode!r:.80}"
            raise InvalidArgumentError(msg)
        if not isinstance(ring, Mapping) or not ring:
            got = "an empty mapping" if isinstance(ring, Mapping) else f"a {type(ring).__name__}"
            msg = f"keys must map key ids to keys, with at least one key, got {got}"
            raise InvalidArgumentError(msg)
        checked: dict[str, bytes] = {}
        for key_id, key in ring.items():
            _check_key_id(key_id, "a key id")
            checked[key_id] = _check_key(key_id, key, mode)
        if primary is None:
            if len(checked) != 1:
                msg = f"name the key that encrypts: primary= one of {sorted(checked)}"
                raise InvalidArgumentError(msg)
            primary = next(iter(checked))
        _check_key_id(primary, "primary")
        if primary not in checked:
            msg = f"primary {primary!r} is not one of the keys {sorted(checked)}"
            raise InvalidArgumentError(msg)
        self._inner = inner
        self._ring = _Ring(checked, primary, mode)
        self._prefix: str | None = None
        self._queue: str | None = None
        self._context = b""

    # Binding -----------------------------------------------------------------------------------

    def bind(self, prefix: str, queue: str) -> AeadCodec[T]:
        """This codec bound to ``queue`` of ``prefix``: a new codec with the same keys, whose
        payloads decode only on that queue of that prefix. Views call it for you."""
        for what, value in (("prefix", prefix), ("queue", queue)):
            if not isinstance(value, str) or not value:
                msg = f"bind() takes the {what} as a non-empty str, got {value!r:.80}"
                raise InvalidArgumentError(msg)
        bound = copy.copy(self)  # shares the inner codec and the ciphers
        bound._prefix, bound._queue, bound._context = prefix, queue, _context(prefix, queue)
        return bound

    @property
    def bound(self) -> bool:
        """True once bound to a prefix and a queue (`bind`)."""
        return self._queue is not None

    @property
    def prefix(self) -> str | None:
        return self._prefix

    @property
    def queue(self) -> str | None:
        return self._queue

    @property
    def inner(self) -> Codec[T]:
        return self._inner

    @property
    def mode(self) -> Mode:
        return "random" if self._ring.mode == "random" else "deterministic"

    @property
    def primary(self) -> str:
        return self._ring.primary

    @property
    def key_ids(self) -> list[str]:
        """The ids of the keys this codec decrypts with, sorted."""
        return sorted(self._ring.ciphers)

    @property
    def unmatchable(self) -> str | None:
        """Why equal tasks do not give equal payloads (random mode), else None: the operations
        that match payload bytes (``unique=True``, ``cancel``, ``get_matching_processes``)
        refuse a codec that gives a reason here."""
        return _UNMATCHABLE if self._ring.mode == "random" else None

    def _where(self) -> str:
        return f"queue {self._queue!r} of prefix {self._prefix!r}"

    def _check_bound(self, doing: str) -> None:
        if self._queue is None:
            msg = (
                f"AeadCodec cannot {doing} before it is bound to a queue: its payloads are bound to a prefix and "
                "a queue, so use it through a view, client.queue(name, codec), which binds it, or call "
                "codec.bind(prefix, queue)"
            )
            raise InvalidArgumentError(msg)

    # Encoding ----------------------------------------------------------------------------------

    def encode(self, task: T) -> bytes:
        self._check_bound("encode")
        plaintext = self._inner.encode(task)
        if not plaintext:
            msg = "a task must not be empty: an empty payload carries nothing for a worker to do"
            raise InvalidTaskTypeError(msg)
        ring = self._ring
        header = ring.headers[ring.primary]
        cipher = ring.ciphers[ring.primary]
        aad = header + self._context
        if isinstance(cipher, AESGCM):
            nonce = os.urandom(NONCE_SIZE)
            return header + nonce + cipher.encrypt(nonce, plaintext, aad)
        return header + cipher.encrypt(plaintext, [aad])

    def decode(self, payload: bytes) -> T:
        self._check_bound("decode")
        header, key_id, sealed = self._split(payload)
        cipher = self._ring.ciphers.get(key_id)
        if cipher is None:
            msg = (
                f"the payload was encrypted with key id {key_id!r}, which this codec does not have "
                f"(its keys: {self.key_ids}); add that key to keys= to read it"
            )
            raise CodecError(msg, payload=payload)
        aad = header + self._context
        try:
            if isinstance(cipher, AESGCM):
                plaintext = cipher.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], aad)
            else:
                plaintext = cipher.decrypt(sealed, [aad])
        except InvalidTag:
            msg = (
                f"the payload does not authenticate under key {key_id!r} for {self._where()}: it was changed "
                "(tampered with or corrupted), or it was encrypted for another queue or prefix; none of it was used"
            )
            raise CodecError(msg, payload=payload) from None
        try:
            return self._inner.decode(plaintext)
        except CodecError as exc:  # its message may show the plaintext: keep that out
            msg = (
                f"the payload decrypted (key {key_id!r}), but {self._inner!r} cannot decode its plaintext "
                f"({type(exc.__cause__ or exc).__name__}; the plaintext is not shown)"
            )
            raise CodecError(msg, payload=payload) from None

    def _split(self, payload: bytes) -> tuple[bytes, str, bytes]:
        """The header, key id and sealed rest of ``payload``, checked against this codec's mode."""
        if len(payload) < 3 or payload[0] != FORMAT:  # noqa: PLR2004 (format, mode, id length)
            msg = (
                "the payload is not an AeadCodec payload (format 0x01): it was written unencrypted (through another "
                f"codec, or before {self._where()} was encrypted), or it was tampered with"
            )
            raise CodecError(msg, payload=payload)
        mode = _MODE_NAMES.get(payload[1])
        if mode is None:
            msg = f"the payload names an unknown AeadCodec mode (0x{payload[1]:02x}); it was tampered with, or written by a newer worqr"
            raise CodecError(msg, payload=payload)
        if mode != self._ring.mode:
            msg = (
                f"the payload was encrypted in mode {mode!r}, but this codec is mode={self._ring.mode!r}; "
                "read it with a codec of that mode (each mode has keys of its own)"
            )
            raise CodecError(msg, payload=payload)
        id_end = 3 + payload[2]
        minimum = id_end + TAG_SIZE + (NONCE_SIZE if mode == "random" else 0)
        if payload[2] == 0 or len(payload) < minimum:
            msg = f"the payload is cut short ({len(payload)} bytes): it was truncated or tampered with"
            raise CodecError(msg, payload=payload)
        try:
            key_id = payload[3:id_end].decode("utf-8")
        except UnicodeDecodeError:
            msg = f"the payload's key id {payload[3:id_end]!r:.80} is not UTF-8: it was tampered with"
            raise CodecError(msg, payload=payload) from None
        return payload[:id_end], key_id, payload[id_end:]

    @staticmethod
    def key_id_of(payload: bytes) -> str:
        """The id of the key ``payload`` was encrypted with, read from its header without
        decrypting it (to find payloads still under an old key during a rotation); raises
        `CodecError` if ``payload`` is not an AeadCodec payload."""
        if len(payload) >= 3 and payload[0] == FORMAT and payload[2]:  # noqa: PLR2004 (format, mode, id length)
            try:
                return payload[3 : 3 + payload[2]].decode("utf-8")
            except UnicodeDecodeError:
                pass
        msg = "not an AeadCodec payload (format 0x01 with a UTF-8 key id)"
        raise CodecError(msg, payload=payload)

    def __repr__(self) -> str:
        where = f", bound to {self._where()}" if self._queue is not None else ", unbound"
        return f"AeadCodec({self._inner!r}, mode={self.mode!r}, keys={self.key_ids}, primary={self.primary!r}{where})"
