"""Lossless column codecs for sealed readings and rollups (pure: numpy arrays in, bytes out).

A packed block holds one point's readings of one period. Each column is encoded on its own
and the concatenation is deflated once:

* integers (timestamps, counts): the first value, then the deltas; for timestamps the
  deltas of the deltas (a regular 10 s series is all zeros). The residuals are stored at
  the narrowest fixed width that holds them (1, 2, 4 or 8 bytes) with the bytes shuffled
  (all first bytes, then all second bytes...), so deflate sees long runs.
* floats: sensor values are decimals written with a few digits (``23.47``). If every value
  ``v`` is exactly ``k / 10**s`` for a small ``s`` (checked bit for bit on the way in), the
  integers ``k`` are stored as above. Otherwise the values' bits are XORed with the previous
  value's bits (Gorilla's idea: close values share sign, exponent and high mantissa bits, so
  the XOR is mostly zero bytes) and byte-shuffled. Either way ``decode(encode(x))`` gives
  the same bits back: NaN payloads, -0.0 and infinities included.

Measured on the storage benchmark's district month: see README "Figures".
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

VERSION = 1
_WIDTHS: tuple[tuple[type[np.signedinteger], int], ...] = ((np.int8, 1), (np.int16, 2), (np.int32, 4), (np.int64, 8))
_MAX_SCALE = 6
_EXACT = 2**53


def _shuffle(raw: np.ndarray) -> bytes:
    width = raw.dtype.itemsize
    if width == 1 or raw.size == 0:
        return raw.tobytes()
    return raw.view(np.uint8).reshape(-1, width).T.tobytes()


def _unshuffle(buf: bytes, dtype: type, n: int) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    a = np.frombuffer(buf, dtype=np.uint8)
    if width == 1 or n == 0:
        return a.view(dtype).copy()
    return np.ascontiguousarray(a.reshape(width, n).T).view(dtype).reshape(n)


def _narrow(residuals: np.ndarray) -> tuple[int, bytes]:
    """(width code, shuffled bytes) of int64 residuals at the narrowest width holding them."""
    if residuals.size == 0:
        return 0, b""
    lo, hi = int(residuals.min()), int(residuals.max())
    for code, (dtype, _) in enumerate(_WIDTHS):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return code, _shuffle(residuals.astype(dtype))
    raise AssertionError("int64 residuals always fit")  # pragma: no cover


def _widen(code: int, buf: bytes, n: int) -> np.ndarray:
    dtype, _ = _WIDTHS[code]
    return _unshuffle(buf, dtype, n).astype(np.int64)


def _ints(a: np.ndarray, order: int) -> bytes:
    """int64 ``a`` as: n, order, first ``order`` values, width code, residuals (``order``-th differences)."""
    a = np.asarray(a, dtype=np.int64)
    n = a.size
    heads = []
    r = a
    for _ in range(min(order, n)):
        heads.append(int(r[0]))
        r = np.diff(r)
    code, body = _narrow(r)
    return struct.pack(f"<IB{len(heads)}qBI", n, len(heads), *heads, code, len(body)) + body


def _read_ints(buf: memoryview, pos: int) -> tuple[np.ndarray, int]:
    n, k = struct.unpack_from("<IB", buf, pos)
    pos += 5
    heads = struct.unpack_from(f"<{k}q", buf, pos)
    pos += 8 * k
    code, size = struct.unpack_from("<BI", buf, pos)
    pos += 5
    r = _widen(code, bytes(buf[pos : pos + size]), n - k) if n > k else np.zeros(0, np.int64)
    pos += size
    for h in reversed(heads):  # undo the differences, innermost first
        r = np.concatenate((np.array([h], np.int64), r)).cumsum(dtype=np.int64)
    return r[:n], pos


def decimal_scale(v: np.ndarray) -> tuple[int, np.ndarray] | None:
    """(s, k) with ``k / 10**s`` bit-identical to ``v``, or None."""
    if v.size == 0:
        return 0, np.zeros(0, np.int64)
    bits = v.view(np.uint64)
    with np.errstate(invalid="ignore", over="ignore"):
        if not np.isfinite(v).all():
            return None
        for s in range(_MAX_SCALE + 1):
            scaled = np.rint(v * (10.0**s))
            if np.abs(scaled).max() >= _EXACT:
                return None
            k = scaled.astype(np.int64)
            if np.array_equal((k.astype(np.float64) / (10.0**s)).view(np.uint64), bits):
                return s, k
    return None


def _floats(v: np.ndarray) -> bytes:
    v = np.ascontiguousarray(v, dtype=np.float64)
    dec = decimal_scale(v)
    if dec is not None:
        s, k = dec
        return struct.pack("<BB", 1, s) + _ints(k, 1)
    bits = v.view(np.uint64)
    x = bits.copy()
    x[1:] ^= bits[:-1]
    body = _shuffle(x)
    return struct.pack("<BI", 2, v.size) + body


def _read_floats(buf: memoryview, pos: int) -> tuple[np.ndarray, int]:
    (kind,) = struct.unpack_from("<B", buf, pos)
    if kind == 1:
        (s,) = struct.unpack_from("<B", buf, pos + 1)
        k, pos = _read_ints(buf, pos + 2)
        return k.astype(np.float64) / (10.0**s), pos
    (n,) = struct.unpack_from("<I", buf, pos + 1)
    pos += 5
    x = _unshuffle(bytes(buf[pos : pos + 8 * n]), np.uint64, n)
    return np.bitwise_xor.accumulate(x).view(np.float64), pos + 8 * n


# A column spec: "t" timestamps (delta of delta), "i" integers (delta), "z" small integers
# (as they are), "f" floats.
def encode(spec: str, *columns: np.ndarray) -> bytes:
    """Columns of equal length, one letter of ``spec`` each, into one deflated block."""
    parts = [struct.pack("<B", VERSION)]
    for kind, col in zip(spec, columns, strict=True):
        if kind == "t":
            parts.append(_ints(col, 2))
        elif kind == "i":
            parts.append(_ints(col, 1))
        elif kind == "z":
            parts.append(_ints(col, 0))
        elif kind == "f":
            parts.append(_floats(col))
        else:
            raise ValueError(f"unknown column kind {kind!r}")
    return zlib.compress(b"".join(parts), 6)


def decode(spec: str, blob: bytes) -> list[np.ndarray]:
    buf = memoryview(zlib.decompress(blob))
    if buf[0] != VERSION:
        raise ValueError(f"packed block version {buf[0]} is not {VERSION}")
    pos, out = 1, []
    for kind in spec:
        if kind in "tiz":
            col, pos = _read_ints(buf, pos)
        else:
            col, pos = _read_floats(buf, pos)
        out.append(col)
    return out
