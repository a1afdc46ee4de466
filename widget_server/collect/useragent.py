"""Device class and known-bot detection from the User-Agent header.

Deliberately small: the device class is only used to split reports and target
popups, so three classes suffice; the bot list covers crawlers, link previewers,
monitors and headless browsers, which together are most non-human traffic that
runs a storefront's scripts. Plain HTTP clients (curl, a shop backend reporting
purchases) are not bots: they only reach `/v1/collect` on purpose.
"""

from __future__ import annotations

import re
from functools import lru_cache

_BOT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scrape|fetch|preview|monitor|uptime|lighthouse|"
    r"pagespeed|headlesschrome|phantomjs|selenium|puppeteer|playwright|"
    r"facebookexternalhit|whatsapp|embedly|quora link|pinterest|bingpreview|feedparser|"
    r"mediapartners|adsbot|apis-google|yandex|baidu|semrush|ahrefs|mj12|dotbot|petalbot",
    re.IGNORECASE,
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk|playbook|android(?!.*mobile)", re.IGNORECASE)
_MOBILE = re.compile(r"mobi|iphone|ipod|android|blackberry|opera mini|iemobile", re.IGNORECASE)


@lru_cache(maxsize=4096)
def classify(user_agent: str) -> str:
    """One of "bot", "tablet", "mobile", "desktop", or "other" (not a browser)."""
    if _BOT.search(user_agent):
        return "bot"
    if _TABLET.search(user_agent):
        return "tablet"
    if _MOBILE.search(user_agent):
        return "mobile"
    return "desktop" if user_agent.startswith("Mozilla/") else "other"
