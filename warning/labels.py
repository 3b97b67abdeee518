"""What the router adds to a notification so a person can read it: the enterprise's name,
the point's kind title, a link to the alert's page under the public address, and the site's
time zone (``Site.timezone``) that channel texts show times in. Pure data,
built once from the site at start-up (``warning.config.public_labels`` reads ``WARNING_PUBLIC_URL``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from .site import Site
from .times import DEFAULT_TIMEZONE


@dataclass(frozen=True)
class Labels:
    enterprises: Mapping[str, str] = field(default_factory=dict)  #: enterprise id -> name
    points: Mapping[tuple[str, str, str], str] = field(default_factory=dict)  #: (ent, dev, point) -> kind title id
    public_url: str | None = None  #: e.g. https://warning.example.gov.cn (no trailing slash)
    timezone: str = DEFAULT_TIMEZONE  #: the site's IANA zone: channel texts show their times in it

    @classmethod
    def of(cls, site: Site, public_url: str | None = None) -> Labels:
        return cls(
            {e.id: e.name for e in site.enterprises.values()},
            {(p.ref.enterprise, p.ref.device, p.ref.point): p.title for p in site.points},
            public_url.rstrip("/") if public_url else None,
            site.timezone,
        )

    def updated(self, site: Site, changed: Collection[str]) -> Labels:
        """These labels after the ledger changed the enterprises ``changed`` (``site``: the new site)."""
        points = dict(self.points)  # a retired point's title may stay: nothing names it any more
        points.update(
            {(p.ref.enterprise, p.ref.device, p.ref.point): p.title for p in site.points if p.ref.enterprise in changed}
        )
        return Labels({e.id: e.name for e in site.enterprises.values()}, points, self.public_url)

    def link(self, alert_id: str) -> str | None:
        return f"{self.public_url}/alert/{alert_id}" if self.public_url else None

    def add_to(self, payload: dict) -> dict:
        """The payload (an event's JSON) with ``enterprise_name``, ``point_title``, ``link`` and
        ``timezone`` (the site's, for the times a channel text shows)."""
        a = payload["alert"]
        payload["enterprise_name"] = self.enterprises.get(a["enterprise"], a["enterprise"])
        title = self.points.get((a["enterprise"], a["device"], a["point"]))
        if title:
            payload["point_title"] = title
        link = self.link(a["id"])
        if link:
            payload["link"] = link
        payload["timezone"] = self.timezone
        return payload
