"""An enterprise's standing risk (:class:`~warning.risk.model.Standing`) from its ledger fields,
checked against the risk model's own tables. Pure.

The model weighs the explosion class of the enterprise's dusts, the people working with dust,
its dry collectors and its static risk grade (docs/risk.md). A value the model has no weight
for is refused with the enterprise and the field named, never read as "no risk": an ``St4`` or
a grade ``high`` that the model silently scored 0 would make a bad enterprise look safe. An
empty explosion class or grade means "not recorded" and adds nothing (the explanation says so).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..site import Enterprise
from .config import RiskConfig
from .model import Standing


class StandingError(ValueError):
    """Ledger fields the risk model cannot use; the message names every enterprise and field."""


def _count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def problems(ent: Enterprise, config: RiskConfig) -> list[str]:
    """What is wrong with one enterprise's ledger fields for the model (empty: nothing)."""
    out = []
    for i, d in enumerate(ent.dusts):
        if d.explosion_class and d.explosion_class not in config.explosion_class:
            known = ", ".join(sorted(config.explosion_class))
            out.append(
                f"dusts[{i}].explosion_class {d.explosion_class!r}: 粉尘爆炸等级应为 {known} 之一 / one of {known}"
            )
    if not _count(ent.dust_workers):
        out.append(f"dust_workers {ent.dust_workers!r}: 涉粉作业人数应为非负整数 / a whole number ≥ 0")
    if not _count(ent.collectors.count):
        out.append(f"collectors.count {ent.collectors.count!r}: 除尘器台数应为非负整数 / a whole number ≥ 0")
    if not isinstance(ent.collectors.wet, bool):
        out.append(
            f"collectors.wet {ent.collectors.wet!r}: 应为 true（湿式）或 false（干式） / true (wet) or false (dry)"
        )
    if ent.risk_grade and ent.risk_grade not in config.risk_grade:
        known = ", ".join(sorted(config.risk_grade))
        out.append(f"risk_grade {ent.risk_grade!r}: 静态风险等级应为 {known} 之一 / one of {known}")
    return out


def standing_of(ent: Enterprise, config: RiskConfig) -> Standing:
    """The model's view of one enterprise; raises :class:`StandingError` for a bad field."""
    bad = problems(ent, config)
    if bad:
        raise StandingError(f"enterprise {ent.id}: " + "; ".join(bad))
    return Standing(
        explosion_classes=tuple(d.explosion_class for d in ent.dusts if d.explosion_class),
        dust_workers=ent.dust_workers,
        dry_collectors=0 if ent.collectors.wet else ent.collectors.count,
        risk_grade=ent.risk_grade,
    )


def standings(enterprises: Iterable[Enterprise], config: RiskConfig) -> dict[str, Standing]:
    """Every enterprise's standing; one :class:`StandingError` listing all the bad ones (up to 20)."""
    out: dict[str, Standing] = {}
    bad: list[str] = []
    for ent in enterprises:
        try:
            out[ent.id] = standing_of(ent, config)
        except StandingError as exc:
            bad.append(str(exc))
    if bad:
        more = f" (and {len(bad) - 20} more)" if len(bad) > 20 else ""
        raise StandingError("ledger fields the risk model cannot use: " + " | ".join(bad[:20]) + more)
    return out
