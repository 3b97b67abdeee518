"""CSV text of many readings at once (pure: numpy arrays in, bytes out).

``warning export`` writes ``enterprise,device,point,ts,value`` rows with the time as
``csvio.iso_ms`` writes it (``2026-06-01T08:00:10.000+00:00``) and the value as Python's
``repr(float)`` (the shortest text that reads back to the same bits). Writing them one
f-string a row tops out near 300k rows/s; here every field is a matrix of bytes (one row a
reading, 0 where a byte is not used), side by side, and the rows are those bytes with the
zeros dropped: numpy work, no Python per reading.

Values: a value that is a decimal ``k / 10**s`` with ``s <= 6``, ``|k| < 10**15`` and
``|v| >= 1e-4`` (or 0.0) is written as that decimal with the fewest digits; the 15 digits are
what makes it the same text as ``repr``: two decimals of at most 15 significant digits never
read as the same float (``DBL_DIG``), so the shortest text that reads back is this one. Every
other value (NaN, infinities, -0.0, tiny or long ones) is written by ``repr`` itself.
"""

from __future__ import annotations

import numpy as np

_MAX_SCALE = 6
_INT_DIGITS = 15
_P10 = 10 ** np.arange(19, dtype=np.int64)
_ZERO = ord("0")

Field = np.ndarray  #: uint8 matrix, one row a reading; bytes 0 are not written

_T3 = np.frombuffer(b"".join(b"%03d" % k for k in range(1000)), np.uint8).reshape(1000, 3)


def digits(x: np.ndarray, width: int) -> np.ndarray:
    """Non-negative int64 ``x`` (below ``10**width``) as ``width`` ASCII digits each, zero-padded
    on the left (three at a time from a table)."""
    groups = -(-width // 3)
    out = np.empty((x.size, 3 * groups), np.uint8)
    for g in range(groups):
        out[:, 3 * (groups - 1 - g) : 3 * (groups - g)] = _T3[x // _P10[3 * g] % 1000]
    return out[:, 3 * groups - width :]


def constant(text: bytes, n: int) -> Field:
    return np.broadcast_to(np.frombuffer(text, np.uint8), (n, len(text)))


def texts(strings: list[bytes], index: np.ndarray) -> Field:
    """``strings[index[i]]`` for each row (a few distinct strings, e.g. one per point; no NUL)."""
    width = max((len(s) for s in strings), default=0)
    table = np.zeros((len(strings), width), np.uint8)
    for k, s in enumerate(strings):
        table[k, : len(s)] = np.frombuffer(s, np.uint8)
    return table[index]


_CLOCK: list[np.ndarray] = []


def _clock() -> np.ndarray:
    """``HH:MM:SS`` of every second of a day (86,400 x 8 bytes, made once)."""
    if not _CLOCK:
        sec = np.arange(86_400)
        t = np.empty((86_400, 8), np.uint8)
        t[:, 0:2] = _T3[sec // 3600][:, 1:]
        t[:, 3:5] = _T3[sec // 60 % 60][:, 1:]
        t[:, 6:8] = _T3[sec % 60][:, 1:]
        t[:, 2] = t[:, 5] = ord(":")
        _CLOCK.append(t)
    return _CLOCK[0]


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (m <= 2), m, d


def iso_ms(ts_ms: np.ndarray) -> Field:
    """``datetime.fromtimestamp(t / 1000, UTC).isoformat(timespec="milliseconds")`` of each
    time (years 1 to 9999; exact, where the float division drifts past 2106): 29 bytes each."""
    ts_ms = np.asarray(ts_ms, np.int64)
    days, ms_of_day = np.divmod(ts_ms, 86_400_000)
    first = int(days.min()) if days.size else 0
    span = int(days.max()) - first + 1 if days.size else 0
    if span <= 1 << 16:  # the usual case: a few days, each day's date formatted once
        uday, inv = np.arange(first, first + span, dtype=np.int64), days - first
    else:
        uday, inv = np.unique(days, return_inverse=True)
    y, mo, d = _civil(uday)
    if uday.size and (y.min() < 1 or y.max() > 9999):
        raise ValueError("times outside years 1..9999")
    head = np.empty((uday.size, 11), np.uint8)
    head[:, 0:4] = digits(y, 4)
    head[:, 5:7] = digits(mo, 2)
    head[:, 8:10] = digits(d, 2)
    head[:, 4] = head[:, 7] = ord("-")
    head[:, 10] = ord("T")
    secs, ms = np.divmod(ms_of_day, 1000)
    out = np.empty((ts_ms.size, 29), np.uint8)
    out[:, 0:11] = head[inv.reshape(-1)]
    out[:, 11:19] = _clock()[secs]
    out[:, 19] = ord(".")
    out[:, 20:23] = _T3[ms]
    out[:, 23:29] = np.frombuffer(b"+00:00", np.uint8)
    return out


def decimals(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per value: (ok, k, s) with ``k / 10**s`` bit-identical to ``v`` at the smallest such
    ``s <= 6`` and ``ok`` where the decimal text is ``repr``'s (see the module's note)."""
    v = np.ascontiguousarray(v, np.float64)
    bits = v.view(np.uint64)
    k = np.zeros(v.size, np.int64)
    s = np.zeros(v.size, np.int64)
    found = np.zeros(v.size, bool)
    with np.errstate(invalid="ignore", over="ignore"):
        small = np.isfinite(v) & (np.abs(v) < 1e15)
        for sc in range(_MAX_SCALE + 1):
            todo = np.flatnonzero(small & ~found)
            if not todo.size:
                break
            kk = np.rint(v[todo] * 10.0**sc).astype(np.int64)
            hit = (kk.astype(np.float64) / 10.0**sc).view(np.uint64) == bits[todo]
            idx = todo[hit]
            k[idx] = kk[hit]
            s[idx] = sc
            found[idx] = True
        ok = found & (np.abs(k) < 10**_INT_DIGITS) & ((np.abs(v) >= 1e-4) | (bits == 0))
    return ok, k, s


def floats(v: np.ndarray) -> Field:
    """``repr(float(x))`` of each value, as a field."""
    v = np.ascontiguousarray(v, np.float64)
    ok, k, s = decimals(v)
    n = v.size
    q, r = np.divmod(np.abs(k), _P10[s])
    top = int(q.max()) if n else 0
    wi = max(1, len(str(top)))  # integer digits of the widest value
    width = 1 + wi + 1 + _MAX_SCALE
    out = np.zeros((n, max(width, 24)), np.uint8)
    out[:, 0] = np.where(k < 0, ord("-"), 0)
    ndig = np.ones(n, np.int64)
    for j in range(1, wi):
        ndig += q >= _P10[j]
    out[:, 1 : 1 + wi] = np.where(np.arange(wi) >= (wi - ndig)[:, None], digits(q, wi), 0)
    out[:, 1 + wi] = ord(".")
    out[:, 2 + wi : width] = np.where(
        np.arange(_MAX_SCALE) < np.maximum(s, 1)[:, None], digits(r * _P10[_MAX_SCALE - s], _MAX_SCALE), 0
    )
    rest = np.flatnonzero(~ok)
    if rest.size:
        out[rest] = 0
        for i, x in zip(rest.tolist(), v[rest].tolist(), strict=True):
            b = repr(x).encode()
            out[i, : len(b)] = np.frombuffer(b, np.uint8)
    return out


def rows(fields: list[Field], sep: bytes = b",", end: bytes = b"\n") -> bytes:
    """The fields side by side, ``sep`` between them and ``end`` after each row; the 0 bytes
    (a field's unused places) are dropped."""
    n = fields[0].shape[0]
    parts: list[np.ndarray] = []
    for k, m in enumerate(fields):
        parts.append(m)
        parts.append(constant(end if k == len(fields) - 1 else sep, n))
    return np.concatenate(parts, axis=1).tobytes().translate(None, b"\0")
