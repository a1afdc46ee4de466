"""The catalog: search by id or name, one item's card, and feed upload with each
bad line named (the same parser and merge as `POST /v1/admin/catalog`).

Context of `catalog.html`: `q`, `results` (cards), `total` (items in the
catalog), `complete` (the search looked at every item), `imported`, `rejected`,
`feed_error`, `formats`. Of `item.html`: `card`, `displayable`, `missing`,
`availability` (the stock word in the merchant's words, or as the feed wrote it),
`discontinued`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import time
from collections import OrderedDict
from typing import Any

from starlette.datastructures import UploadFile
from starlette.responses import Response

from widget_server.admin import catalog_import
from widget_server.admin.catalog import MAX_BODY
from widget_server.dashboard.web import Page, error_page, signed_in
from widget_server.storage import catalog, keys
from widget_server.storage.connect import AsyncRedis

# Stock words as feeds, exports and schema.org write them (`in_stock`, `In stock`,
# `https://schema.org/OutOfStock`), read as `recommender.catalog.is_available` reads
# them, to the dashboard's words.
AVAILABILITY_LABELS = {
    "instock": "In stock",
    "outofstock": "Out of stock",
    "soldout": "Out of stock",
    "discontinued": "Discontinued",
    "preorder": "Pre-order",
    "backorder": "On backorder",
}
FORMAT_LABELS = {"csv": "CSV", "jsonl": "JSON lines", "gmc": "Google Merchant Center (XML)"}
RESULTS = 50
SCAN_PAGE = 1_000
MAX_SCANNED = 200_000


@dataclasses.dataclass(frozen=True)
class _Index:
    """What a search looks through: per item, its id and its id and name in one
    casefolded string. Kept per store while the catalog's version and size stay
    the same, for at most `INDEX_TTL_S` (product data from `view_item` events
    changes neither)."""

    token: tuple[int, int]
    built: float
    entries: list[tuple[str, str]]
    complete: bool  # every item is in it (a huge catalog is indexed in part)


_indexes: OrderedDict[str, _Index] = OrderedDict()
INDEX_TTL_S = 60.0
KEPT_INDEXES = 8


async def _index(redis: AsyncRedis, store_id: str) -> _Index:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.catalog_version(store_id))
        pipe.hlen(keys.catalog(store_id))
        version, size = await pipe.execute()
    token = (int(version or 0), int(size))
    kept = _indexes.get(store_id)
    if kept is not None and kept.token == token and time.monotonic() - kept.built < INDEX_TTL_S:
        _indexes.move_to_end(store_id)
        return kept
    entries: list[tuple[str, str]] = []
    cursor = 0
    while len(entries) < MAX_SCANNED:
        cursor, page = await redis.hscan(keys.catalog(store_id), cursor, count=SCAN_PAGE)
        for field, raw in page.items():
            card = catalog.decode_card(raw)
            if card is None:
                continue
            item_id = str(card.get("item_id") or field.decode())
            haystack = f"{item_id}\t{card.get('name', '')}".casefold()
            entries.append((field.decode(), haystack))
        if cursor == 0:
            break
    index = _Index(token, time.monotonic(), entries, cursor == 0)
    _indexes[store_id] = index
    _indexes.move_to_end(store_id)
    while len(_indexes) > KEPT_INDEXES:
        _indexes.popitem(last=False)
    return index


async def search(
    redis: AsyncRedis, store_id: str, query: str, limit: int = RESULTS
) -> tuple[list[dict[str, Any]], bool]:
    """Cards whose id or name contains `query` (any case), the exact id first; and
    whether every item was looked at (a huge catalog is searched in part)."""
    needle = query.strip().casefold()
    found: dict[str, dict[str, Any]] = {}
    exact = catalog.decode_card(await redis.hget(keys.catalog(store_id), query.strip()))
    if exact is not None:
        found[str(exact.get("item_id", query))] = exact
    index = await _index(redis, store_id)
    # The tab joins id and name: a needle with one in it would match across them.
    if "\t" not in needle:
        matches = (field for field, haystack in index.entries if needle in haystack)
        fields = list(itertools.islice(matches, limit))
        cards = await redis.hmget(keys.catalog(store_id), fields) if fields else []
        for field, raw in zip(fields, cards, strict=True):
            card = catalog.decode_card(raw)
            if card is not None and len(found) < limit:
                found.setdefault(str(card.get("item_id") or field), card)
    return list(found.values()), index.complete


async def _catalog_page(page: Page, status: int = 200, **result: Any) -> Response:
    query = page.request.query_params.get("q", "").strip()
    results: list[dict[str, Any]] = []
    complete = True
    if query:
        results, complete = await search(page.redis, page.store.id, query)
    total = int(await page.redis.hlen(keys.catalog(page.store.id)))
    context: dict[str, Any] = {
        "imported": None, "rejected": [], "feed_error": None, "filename": None,
    }  # fmt: skip
    context.update(result)
    return page.render(
        "catalog.html",
        "catalog",
        status=status,
        q=query,
        results=results,
        complete=complete,
        total=total,
        displayable=catalog.is_displayable,
        formats=[(f, FORMAT_LABELS[f]) for f in catalog_import.FORMATS],
        **context,
    )


@signed_in
async def catalog_page(page: Page) -> Response:
    return await _catalog_page(page)


@signed_in
async def upload_feed(page: Page) -> Response:
    assert page.form is not None
    upload = page.form.get("feed")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _catalog_page(page, 400, feed_error="feed: choose a file to upload")
    if upload.size is not None and upload.size > MAX_BODY:
        return await _catalog_page(page, 413, feed_error=f"feed: larger than {MAX_BODY} bytes")
    data = await upload.read()
    fmt = page.field("format")
    try:
        result = await asyncio.to_thread(
            catalog_import.parse_feed, data, fmt if fmt in catalog_import.FORMATS else None,
            upload.filename, page.store.site,
        )  # fmt: skip
    except catalog_import.FeedError as exc:
        return await _catalog_page(page, 400, feed_error=str(exc), filename=upload.filename)
    if not result.cards:
        return await _catalog_page(
            page, 400, feed_error="feed: no valid item", rejected=result.errors,
            filename=upload.filename,
        )  # fmt: skip
    imported = await catalog.upsert_cards(page.redis, page.store.id, result.cards)
    return await _catalog_page(
        page, imported=imported, rejected=result.errors, filename=upload.filename
    )


@signed_in
async def item_page(page: Page) -> Response:
    item_id = page.request.path_params["item_id"]
    card = catalog.decode_card(await page.redis.hget(keys.catalog(page.store.id), item_id))
    if card is None:
        return error_page(page.request, 404, language=page.language)
    missing = [f for f in ("name", "url", "image") if not str(card.get(f) or "").strip()]
    stock = str(card.get("availability") or "")
    word = stock.rsplit("/", 1)[-1].replace("_", "").replace(" ", "").lower()
    label = AVAILABILITY_LABELS.get(word)
    return page.render(
        "item.html",
        "catalog",
        card=card,
        displayable=catalog.is_displayable(card),
        missing=missing,
        availability=str(page.language.translate(label)) if label else stock,
        discontinued=word == "discontinued",
        raw=json.dumps(card, ensure_ascii=False, indent=1, sort_keys=True),
    )
