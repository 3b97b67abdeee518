"""Block ciphers of the platforms' envelopes: SM4-CBC (national) and DES-CBC (provincial).

Pure functions over bytes, from ``cryptography`` (OpenSSL underneath): it is the one well-kept
Python library that offers both SM4 (``algorithms.SM4``) and DES. Single DES is not offered
by name; TripleDES with K1 = K2 = K3 *is* single DES (encrypt-decrypt-encrypt with one key
cancels to one encryption), so an 8-byte key is repeated three times. ``pycryptodome`` has DES
but no SM4, and ``gmssl`` is pure Python (slow) and little maintained, so neither was chosen.

Padding is PKCS#7 (PKCS#5 is the same scheme on 8-byte blocks). A wrong key almost always
shows up as bad padding; when the padding happens to look right the plaintext is garbage,
which the decoder then refuses as not JSON.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..i18n import Text

ALGORITHMS = {"sm4": 16, "des": 8}  #: algorithm -> key (and block) size in bytes
ENCODINGS = ("hex", "base64")


class CryptoError(ValueError):
    """Why a cipher text could not be opened: ``reason`` is a catalogue text, rendered in the
    reader's locale by whoever answers (``str()``: zh-CN)."""

    def __init__(self, reason: Text):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CipherSpec:
    """One envelope's cipher: algorithm, mode, key and IV, and the text encodings applied after
    encryption, in order (the provincial format: DES-CBC, then Base64, then hex)."""

    algorithm: str  #: sm4 | des
    key: bytes
    iv: bytes
    mode: str = "cbc"  #: cbc | ecb
    encodings: tuple[str, ...] = ("hex",)

    def __post_init__(self) -> None:
        size = ALGORITHMS.get(self.algorithm)
        if size is None:
            raise ValueError(f"cipher algorithm must be one of {', '.join(ALGORITHMS)}, not {self.algorithm!r}")
        # A key or IV of the wrong size comes from the environment, and its reason can reach a
        # gateway in a 401 (the key is not configured): a catalogue text, like the other refusals.
        if len(self.key) != size:
            raise CryptoError(
                Text.of(
                    "{algorithm} needs a key of {size} bytes, not {n}",
                    algorithm=self.algorithm,
                    size=size,
                    n=len(self.key),
                )
            )
        if self.mode not in ("cbc", "ecb"):
            raise ValueError(f"cipher mode must be cbc or ecb, not {self.mode!r}")
        if self.mode == "cbc" and len(self.iv) != size:
            raise CryptoError(
                Text.of(
                    "{algorithm}-cbc needs an IV of {size} bytes, not {n}",
                    algorithm=self.algorithm,
                    size=size,
                    n=len(self.iv),
                )
            )
        for e in self.encodings:
            if e not in ENCODINGS:
                raise ValueError(f"encodings must be among {ENCODINGS}, not {e!r}")

    def _cipher(self) -> Cipher:
        algo = algorithms.SM4(self.key) if self.algorithm == "sm4" else TripleDES(self.key * 3)
        return Cipher(algo, modes.CBC(self.iv) if self.mode == "cbc" else modes.ECB())

    def seal(self, plain: bytes) -> str:
        """Pad, encrypt, encode: the text a gateway puts in ``data``."""
        pad = padding.PKCS7(len(self.key) * 8).padder()
        enc = self._cipher().encryptor()
        out = enc.update(pad.update(plain) + pad.finalize()) + enc.finalize()
        return encode(out, self.encodings)

    def open(self, text: str) -> bytes:
        """Decode, decrypt, unpad; raises :class:`CryptoError` with the reason."""
        raw = decode(text, self.encodings)
        block = len(self.key)
        if not raw or len(raw) % block:
            raise CryptoError(
                Text.of(
                    "cipher text of {n} bytes is not a whole number of {block}-byte blocks", n=len(raw), block=block
                )
            )
        dec = self._cipher().decryptor()
        padded = dec.update(raw) + dec.finalize()
        unpad = padding.PKCS7(block * 8).unpadder()
        try:
            return unpad.update(padded) + unpad.finalize()
        except ValueError:
            raise CryptoError(Text.of("bad padding after decryption (wrong key or IV?)")) from None


def encode(raw: bytes, encodings: Sequence[str]) -> str:
    data = raw
    for e in encodings:
        data = data.hex().encode() if e == "hex" else base64.b64encode(data)
    return data.decode("ascii")


def decode(text: str, encodings: Sequence[str]) -> bytes:
    """Undo ``encodings`` in reverse order; raises :class:`CryptoError` naming the bad layer."""
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        raise CryptoError(Text.of("cipher text has non-ASCII characters")) from None
    for e in reversed(encodings):
        if e == "hex":
            try:
                data = bytes.fromhex(data.decode("ascii"))
            except ValueError:
                raise CryptoError(Text.of("cipher text is not valid hex")) from None
        else:
            try:
                data = base64.b64decode(data, validate=True)
            except binascii.Error:
                raise CryptoError(Text.of("cipher text is not valid Base64")) from None
    return data
