"""One PNG per evaluated scenario: the faulted signals, each fault's window and hazard
time, and the alerts raised on them, coloured by severity.

matplotlib with the Agg backend (no display needed); imported lazily so the rest of the
simulators work without it. At most ``MAX_PANELS`` signals are drawn (the points of the
first faults): a month of a hundred enterprises has hundreds of faults, and a picture
of all of them shows nothing. Runs longer than two days zoom each panel on its faults
(±1 h), sharing no x axis.
"""

from __future__ import annotations

from pathlib import Path

from simulators.faults import Fault

MAX_PANELS = 8
COLOURS = {"blue": "#1f6fd1", "yellow": "#e0b000", "orange": "#f07800", "red": "#d01010"}


def panels_for(faults: list[Fault], limit: int = MAX_PANELS) -> list[tuple[str, str, str]]:
    """The (enterprise, device, point) signals to draw: the first faults' points."""
    out: list[tuple[str, str, str]] = []
    for f in faults:
        points = f.affected() or ["hopper_temp", "dp"]
        for p in points:
            key = (f.enterprise, f.device, p)
            if key not in out and p != "running":
                out.append(key)
            if len(out) >= limit:
                return out
    return out


def draw(path: Path, title: str, series: dict, faults: list[Fault], events: list[dict], t0: float) -> Path | None:
    keys = [k for k in series if series[k][0]]
    if not keys:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    span = max(series[k][0][-1] for k in keys) - t0
    unit, scale = ("h", 3600.0) if span > 3 * 3600 else ("min", 60.0)
    zoom = span > 2 * 86400  # a month on one axis shows nothing: zoom each panel on its faults
    fig, axes = plt.subplots(len(keys), 1, figsize=(11, 1.9 * len(keys) + 0.8), sharex=not zoom, squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        if zoom:
            mine = [f for f in faults if (f.enterprise, f.device) == key[:2]]
            if mine:
                lo = min(f.start for f in mine) - 3600.0
                hi = max((f.end if f.end is not None else f.start) for f in mine) + 3600.0
                ax.set_xlim((lo - t0) / scale, (hi - t0) / scale)
        ts, xs = series[key]
        ax.plot([(t - t0) / scale for t in ts], xs, lw=0.7, color="#333333")
        ax.set_ylabel(f"{key[0]}/{key[1]}\n{key[2]}", fontsize=8)
        ax.tick_params(labelsize=7)
        for f in faults:
            if (f.enterprise, f.device) != key[:2] or (f.affected() and key[2] not in f.affected()):
                continue
            end = (f.end if f.end is not None else ts[-1]) - t0
            ax.axvspan((f.start - t0) / scale, end / scale, color="#999999", alpha=0.18, lw=0)
            ax.text((f.start - t0) / scale, 1.0, f" {f.kind}", transform=ax.get_xaxis_transform(), fontsize=7, va="top")
            hz = f.hazard_time()
            if hz is not None:
                ax.axvline((hz - t0) / scale, color="#d01010", ls="--", lw=0.8)
        for e in events:
            if (
                (e["enterprise"], e["device"]) == key[:2]
                and e["point"] in (key[2], "")
                and e["kind"] in ("raised", "updated")
            ):
                ax.axvline((e["at"] - t0) / scale, color=COLOURS.get(e["severity"], "k"), lw=1.2, alpha=0.8)
    axes[-1, 0].set_xlabel(
        f"simulated time ({unit} from start); grey: fault, dashed red: hazard, coloured lines: alerts", fontsize=8
    )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
