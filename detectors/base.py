"""The detector contract: small, pure, online objects.

Every detector is a state machine fed one observation at a time:

* ``update(t, x)`` takes ``t``, the observation's time in epoch **seconds**
  (a float, passed in as data: detectors never read a clock), and ``x``, one
  number. It returns a :class:`Finding` when the detector's verdict *changes*
  (raised, severity changed, cleared) and ``None`` otherwise, so a steady
  condition produces one finding, not one per sample.
* ``snapshot()`` returns the whole state as bytes; ``restore(data)`` puts it
  back. A restored detector gives exactly the same future output.

Detectors never do I/O, hold bounded memory whatever the input, and survive
NaN, inf, repeated or out-of-order times without raising.

Sharp edge: a detector is *not* thread-safe and keeps references to nothing
it was given; feed one detector from one place.
"""

from __future__ import annotations

import enum
import math
import pickle
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class Severity(enum.IntEnum):
    """The national four-colour warning levels, ordered: blue < yellow < orange < red.

    四级 blue, 三级 yellow, 二级 orange, 一级 red.
    """

    BLUE = 1
    YELLOW = 2
    ORANGE = 3
    RED = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str | int | Severity) -> Severity:
        """Accept ``"red"``, ``"RED"``, ``4`` or a :class:`Severity`."""
        if isinstance(text, Severity):
            return text
        if isinstance(text, int):
            return cls(text)
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}: use blue, yellow, orange or red") from None


@dataclass(frozen=True, slots=True)
class Finding:
    """A detector's verdict on one point at one time.

    ``severity`` None means the condition has cleared.
    """

    rule: str  #: stable id of the rule or detector that produced it, e.g. ``"threshold"``
    severity: Severity | None  #: warning level, or None when the condition cleared
    t: float  #: time of the observation that changed the verdict (epoch seconds)
    value: float  #: the observed value (or score) that changed it
    message: str  #: one human sentence, shown to duty officers


def is_finite(x: float) -> bool:
    """True for real numbers; False for NaN and +-inf (which detectors skip)."""
    return not (math.isnan(x) or math.isinf(x))


def gated(gate, rule: str, t: float, x: float, score: float, raised: str, cleared: str) -> Finding | None:
    """A score through its severity ``gate`` (a Threshold): the Finding when the verdict
    changes, what every scoring detector ends with. ``raised`` and ``cleared`` are
    ``str.format`` templates over ``x``, ``score`` and ``rule``, formatted only then (this
    runs on every sample)."""
    found = gate.update(t, score)
    if found is None:
        return None
    text = raised if found.severity is not None else cleared
    return Finding(rule, found.severity, t, x, text.format(x=x, score=score, rule=rule))


class Detector:
    """Base class: pickling snapshot/restore over ``__slots__`` or ``__dict__``.

    Subclasses set ``rule`` and implement ``update``. State must be plain data
    (numbers, tuples, small deques, river statistics), so pickling is exact.
    """

    rule: str = "detector"

    def update(self, t: float, x: float) -> Finding | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def snapshot(self) -> bytes:
        return pickle.dumps(self._state(), protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        state = pickle.loads(data)
        for name, value in state.items():
            setattr(self, name, value)

    def _state(self) -> dict:
        names: list[str] = []
        for cls in type(self).__mro__:
            names.extend(getattr(cls, "__slots__", ()))
        if hasattr(self, "__dict__"):
            names.extend(self.__dict__)
        return {n: getattr(self, n) for n in names if n != "__dict__" and hasattr(self, n)}


class Gate(Protocol):
    """What a scorer's severity gate shows: the severity it holds open (None: clear)."""

    current: Severity | None


@runtime_checkable
class Scoring(Protocol):
    """A scoring detector (breakout, robust_z, holt, likelihood, drift, hotelling): its latest
    score in [0, 1] (``last``), the gate that turns scores into findings, and ``learn`` for
    known-normal history. Rules have no score and are not ``Scoring``."""

    last: float
    gate: Gate

    def update(self, t: float, x: float) -> Finding | None: ...

    def learn(self, xs, ts=None) -> None: ...
