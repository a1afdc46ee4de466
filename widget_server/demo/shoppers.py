"""Who the simulated shoppers are (ids, devices, addresses, customer numbers) and
where each of their visits comes from, all drawn from stable hashes: the same on
every machine and every start, so a second import of the same history finds every
event already there."""

from __future__ import annotations

import base64
import dataclasses
import hashlib

SEED = "tarry-demo-1"

USER_AGENTS = {
    "desktop": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.4 Safari/605.1.15",
    ),
    "mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
    ),
    "tablet": (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    ),
}
DEVICES = (("desktop", 0.48), ("mobile", 0.44), ("tablet", 0.08))
# The documentation address ranges (RFC 5737): addresses that belong to nobody.
NETWORKS = ("192.0.2", "198.51.100", "203.0.113")


def unit(*parts: object) -> float:
    """A stable number in [0, 1) for `parts`."""
    text = "\x1f".join(map(str, (SEED, *parts))).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") / 2**64


def token(*parts: object) -> str:
    """A stable 22-character id, shaped like the snippet's random ones."""
    text = "\x1f".join(map(str, (SEED, *parts))).encode()
    digest = hashlib.blake2b(text, digest_size=16).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def pick(weights: tuple[tuple[str, float], ...], draw: float) -> str:
    for choice, weight in weights:
        draw -= weight
        if draw < 0:
            return choice
    return weights[-1][0]


@dataclasses.dataclass(frozen=True)
class Shopper:
    number: int
    visitor_id: str
    device: str
    user_agent: str
    address: str
    customer: str  # the shop's customer number, used once they buy


def shopper(number: int) -> Shopper:
    device = pick(DEVICES, unit("device", number))
    agents = USER_AGENTS[device]
    network = NETWORKS[number % len(NETWORKS)]
    return Shopper(
        number=number,
        visitor_id=token("visitor", number),
        device=device,
        user_agent=agents[int(unit("agent", number) * len(agents))],
        address=f"{network}.{1 + number // len(NETWORKS) % 254}",
        customer=f"C{100_000 + number}",
    )


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a visit comes from, and the page it lands on."""

    channel: str
    referrer: str | None
    utm: dict[str, str]
    landing: str  # home, category or product

    def query(self) -> str:
        return "?" + "&".join(f"{k}={v}" for k, v in self.utm.items()) if self.utm else ""


CHANNELS = (
    ("direct", 0.32),
    ("organic_search", 0.30),
    ("paid_search", 0.12),
    ("social", 0.11),
    ("email", 0.09),
    ("referral", 0.06),
)
_SOURCES = {
    "direct": (None, {}, (("home", 0.7), ("product", 0.2), ("category", 0.1))),
    "organic_search": (
        "https://www.google.com/",
        {},
        (("product", 0.5), ("home", 0.3), ("category", 0.2)),
    ),
    "paid_search": (
        "https://www.google.com/",
        {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring_sale"},
        (("category", 0.5), ("product", 0.5)),
    ),
    "social": (
        "https://www.instagram.com/",
        {"utm_source": "instagram", "utm_medium": "social", "utm_campaign": "new_lamps"},
        (("product", 0.7), ("home", 0.3)),
    ),
    "email": (
        None,
        {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "weekly_picks"},
        (("home", 0.6), ("product", 0.4)),
    ),
    "referral": (
        "https://slowliving.example/best-mugs-of-the-year",
        {},
        (("product", 0.8), ("home", 0.2)),
    ),
}


def source(visitor: int, number: int) -> Source:
    channel = pick(CHANNELS, unit("channel", visitor, number))
    referrer, utm, landings = _SOURCES[channel]
    return Source(channel, referrer, dict(utm), pick(landings, unit("landing", visitor, number)))
