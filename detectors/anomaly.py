"""Online anomaly scorers turned into findings.

``RiverAnomaly`` puts any river anomaly model with ``score_one``/``learn_one`` behind
the detector contract. The default model is river's ``StandardAbsoluteDeviation``
over an exponentially weighted mean, which forgets slowly drifting levels (ambient
temperature, load) and costs about a microsecond per point.

From configuration, ``model`` names one: ``"sad"`` (the default above), ``"hst"``
(``MinMaxScaler | HalfSpaceTrees(n_trees=10, height=8)``, scores in [0, 1]: use a
threshold like 0.8; about 30k points/s and 170 KB of state, so not for every point of a
city) or ``"svm"`` (``StandardScaler | OneClassSVM``). Supervised river detectors
(``learn_one(x, y)``) get the value as ``y``; unsupervised ones a one-key dict.
"""

from __future__ import annotations

from river import anomaly, stats

from .base import Detector, Finding, gated, is_finite
from .rules import Threshold


def default_model(fading: float = 0.02):
    """River's StandardAbsoluteDeviation around an exponentially weighted mean."""
    return anomaly.StandardAbsoluteDeviation(sub_stat=stats.EWMean(fading_factor=fading))


def named_model(name: str):
    """A river model from its configuration name (see the module docstring)."""
    from river import preprocessing

    if name == "sad":
        return default_model()
    if name == "hst":
        return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(n_trees=10, height=8, seed=42)
    if name == "svm":
        return preprocessing.StandardScaler() | anomaly.OneClassSVM()
    raise ValueError(f"unknown river anomaly model {name!r}; known: sad, hst, svm")


def _supervised(model) -> bool:
    from river.base import SupervisedAnomalyDetector

    return isinstance(model, SupervisedAnomalyDetector)


class RiverAnomaly(Detector):
    """Score each value with a river anomaly model, then learn it.

    The score is compared to ``threshold`` through a :class:`Threshold` gate (so it
    has hysteresis and a hold time ``clear_duration`` before clearing). Nothing is
    reported during the first ``warmup`` samples. Values scored as anomalous are not
    learned, so a fault does not teach the model that it is normal.

    Sharp edge: the model is pickled with the detector; a river upgrade that changes
    a model's attributes may not restore an old snapshot.
    """

    __slots__ = ("model", "warmup", "seen", "gate", "rule", "threshold", "supervised")

    def __init__(
        self,
        *,
        threshold: float = 8.0,
        severity="blue",
        warmup: int = 120,
        model=None,
        clear_duration: float = 30.0,
        rule: str = "anomaly",
        title: str = "value",
    ):
        if isinstance(model, str):
            model = named_model(model)
        self.model = model if model is not None else default_model()
        self.supervised = _supervised(self.model)
        self.warmup = int(warmup)
        self.seen = 0
        self.rule = rule
        self.threshold = float(threshold)
        self.gate = Threshold(
            [(self.threshold, severity)],
            deadband=self.threshold / 4,
            clear_duration=clear_duration,
            rule=rule,
            title=f"{title} anomaly score",
        )

    def update(self, t: float, x: float) -> Finding | None:
        if not is_finite(x):
            return None
        model = self.model
        sup = getattr(self, "supervised", True)  # snapshots from before the field existed: SAD
        self.seen += 1
        if self.seen <= self.warmup:
            model.learn_one(None, x) if sup else model.learn_one({"x": x})
            return None
        score = model.score_one(None, x) if sup else model.score_one({"x": x})
        if not is_finite(score):
            score = 0.0
        if score < self.threshold:
            model.learn_one(None, x) if sup else model.learn_one({"x": x})
        return gated(
            self.gate,
            self.rule,
            t,
            x,
            score,
            "unusual value {x:g} (anomaly score {score:.1f})",
            "value {x:g} back to usual behaviour",
        )
