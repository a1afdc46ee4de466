"""Where a session came from: its channel, referrer, campaign and landing page.

The channel follows the usual default channel grouping of web analytics (GA4's,
simplified to seven channels), from the landing page's UTM parameters and click
ids and the referrer's host:
- paid_search: a click id of an ad network (`gclid`, `msclkid`, ...), or a paid
  medium (`cpc`, `ppc`, `paid...`) from a search engine;
- email: a medium `email` (`e-mail`, `newsletter`, ...);
- social: a social network's referrer, or a social medium;
- organic_search: a search engine's referrer, or medium `organic`;
- referral: any other site's referrer, or medium `referral`;
- other: UTM parameters that match none of the above;
- direct: no referrer (or the shop's own pages) and no campaign.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlsplit

CHANNELS = (
    "direct",
    "organic_search",
    "paid_search",
    "social",
    "email",
    "referral",
    "other",
)
NOT_SET = "(not set)"
DIRECT = "(direct)"
MAX_VALUE = 200

_SEARCH = (
    "google.", "bing.", "yahoo.", "duckduckgo.", "baidu.", "yandex.", "ecosia.",
    "naver.", "ask.", "aol.", "startpage.", "qwant.", "seznam.", "sogou.", "so.com",
    "search.brave.com", "kagi.com",
)  # fmt: skip
_SOCIAL = (
    "facebook.", "fb.com", "instagram.", "t.co", "twitter.", "x.com", "linkedin.",
    "lnkd.in", "pinterest.", "reddit.", "youtube.", "youtu.be", "tiktok.",
    "snapchat.", "telegram.", "t.me", "whatsapp.", "wa.me", "vk.com", "threads.net",
    "tumblr.", "quora.", "discord.", "weibo.", "line.me", "aparat.com", "eitaa.com",
    "rubika.ir",
)  # fmt: skip
_AD_CLICK_IDS = ("gclid", "gbraid", "wbraid", "msclkid", "dclid", "yclid")
_PAID = ("cpc", "ppc", "paidsearch", "paid_search", "paid-search", "paid")
_EMAIL = ("email", "e-mail", "e_mail", "e mail", "newsletter")
_SOCIAL_MEDIA = ("social", "social-network", "social-media", "sm", "social network")


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    channel: str
    referrer: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    landing_page: str


def _host(url: str | None) -> str:
    if not url:
        return ""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _matches(host: str, patterns: tuple[str, ...]) -> bool:
    # Most page views have no referrer: nothing to match, on collect's hot path.
    if not host:
        return False
    dotted = f".{host}"
    for pattern in patterns:
        if pattern.endswith("."):
            if host.startswith(pattern) or f".{pattern}" in dotted:
                return True
        elif host == pattern or host.endswith("." + pattern):
            return True
    return False


def _named(source: str, patterns: tuple[str, ...]) -> bool:
    """A UTM source names a site by host (`facebook.com`) or by name (`facebook`)."""
    return bool(source) and (
        _matches(source, patterns) or any(source == p.rstrip(".") for p in patterns)
    )


def _clip(value: str) -> str:
    # Breakdown values are parts of counter names: no tabs, bounded length.
    return value.replace("\t", " ")[:MAX_VALUE] or NOT_SET


def landing_path(url: str | None) -> str:
    """The landing page as a path: no scheme, host, query or fragment; `/a/` and
    `/a` are one page."""
    if not url:
        return NOT_SET
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        return NOT_SET
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return _clip(path)


def classify(
    url: str | None,
    referrer: str | None,
    utm_source: str | None = None,
    utm_medium: str | None = None,
    utm_campaign: str | None = None,
) -> Source:
    """Where a session whose first page is `url` came from."""
    query: dict[str, list[str]] = {}
    if url and "?" in url:
        try:
            query = parse_qs(urlsplit(url).query)
        except ValueError:
            query = {}

    def utm(name: str, sent: str | None) -> str:
        value = sent or (query.get(name) or [""])[0]
        return value.strip().lower()

    source, medium, campaign = (
        utm("utm_source", utm_source),
        utm("utm_medium", utm_medium),
        utm("utm_campaign", utm_campaign),
    )
    page_host, ref_host = _host(url), _host(referrer)
    if ref_host and ref_host == page_host:
        ref_host = ""  # the shop's own page: not a source
    channel = _channel(source, medium, ref_host, any(k in query for k in _AD_CLICK_IDS))
    return Source(
        channel=channel,
        referrer=_clip(ref_host) if ref_host else DIRECT,
        utm_source=_clip(source),
        utm_medium=_clip(medium),
        utm_campaign=_clip(campaign),
        landing_page=landing_path(url),
    )


def _channel(source: str, medium: str, ref_host: str, ad_click: bool) -> str:
    search_source = _named(source, _SEARCH)
    if ad_click or (
        (medium in _PAID or medium.startswith("paid"))
        and (search_source or _matches(ref_host, _SEARCH) or not source)
    ):
        return "paid_search"
    if medium in _EMAIL or source in _EMAIL:
        return "email"
    if medium in _SOCIAL_MEDIA or _matches(ref_host, _SOCIAL) or _named(source, _SOCIAL):
        return "social"
    if medium == "organic" or (not medium and _matches(ref_host, _SEARCH)):
        return "organic_search"
    if medium == "referral" or (not medium and not source and ref_host):
        return "referral"
    if source or medium:
        return "other"
    return "direct"
