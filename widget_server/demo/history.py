"""The demo store's past, brought in the way a merchant brings theirs: export files
through the import (`imports.pipeline.run_import`), so every event counts on its
own day.

Two files, as a shop that installs Tarry has them: its GA4 BigQuery export of the
last weeks (JSON lines, the `ga4` format): page views, products, carts, checkouts
and orders of every session; and, for the months before those weeks, its order
export (order lines, the `orders` format).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import msgspec

from widget_server.demo.journeys import Walk, order_id, quantity
from widget_server.demo.products import CURRENCY, Catalog
from widget_server.demo.shoppers import shopper
from widget_server.demo.timeline import Visit
from widget_server.imports.formats.rows import read
from widget_server.imports.pipeline import Summary, run_import
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.stores import Store

ORDER_COLUMNS = (
    "order_id", "customer_id", "sku", "name", "category", "quantity", "price", "currency",
    "created_at",
)  # fmt: skip
GA4_EVENTS = {
    "page_view": "page_view",
    "view_item": "view_item",
    "add_to_cart": "add_to_cart",
    "view_cart": "view_cart",
    "begin_checkout": "begin_checkout",
    "purchase": "purchase",
    "engagement": "user_engagement",
}


def write_orders(visits: Iterable[Visit], found: Catalog, out: IO[str]) -> int:
    """Order lines of every visit that bought (the lines of an order together, as
    exports write them); returns the number of orders."""
    writer = csv.writer(out)
    writer.writerow(ORDER_COLUMNS)
    orders = 0
    for visit in visits:
        bought = dict.fromkeys(s.item for s in visit.steps if s.kind == "purchase")
        if not bought:
            continue
        orders += 1
        at = visit.start_ms + max(s.offset_ms for s in visit.steps if s.kind == "purchase")
        created = datetime.fromtimestamp(at / 1000, UTC).isoformat(timespec="seconds")
        customer = shopper(visit.visitor).customer
        for item in bought:
            product = found.by_item[item]
            writer.writerow(
                (
                    order_id(visit.visitor, visit.number), customer, product.sku, product.name,
                    product.category.name, quantity(visit.visitor, product),
                    f"{product.price:.2f}", CURRENCY, created,
                )
            )  # fmt: skip
    return orders


def ga4_rows(walk: Walk) -> Iterator[dict[str, Any]]:
    """The visit's events as rows of GA4's BigQuery export."""
    ga_session = walk.visit.start_ms // 1000
    customer = walk.shopper.customer
    index = 0
    for page_events in walk.pages_events():
        for event in page_events:
            name = GA4_EVENTS.get(event["type"])
            if name is None:
                continue
            index += 1
            yield _ga4_row(event, name, ga_session, customer, index)


def _param(key: str, value: Any) -> dict[str, Any]:
    kind = "int_value" if isinstance(value, int) else (
        "double_value" if isinstance(value, float) else "string_value"
    )  # fmt: skip
    return {"key": key, "value": {kind: value}}


def _ga4_row(
    event: dict[str, Any], name: str, ga_session: int, customer: str, index: int
) -> dict[str, Any]:
    params = [
        _param("ga_session_id", ga_session),
        _param("page_location", event["url"]),
        _param("page_title", event.get("title") or ""),
    ]
    if event.get("ref"):
        params.append(_param("page_referrer", event["ref"]))
    if "engaged_ms" in event:
        params.append(_param("engagement_time_msec", event["engaged_ms"]))
    if "value" in event:
        params += [_param("value", float(event["value"])), _param("currency", CURRENCY)]
    row: dict[str, Any] = {
        "event_name": name,
        "event_timestamp": str(event["ts"] * 1000),
        "user_pseudo_id": event["vid"],
        "event_params": params,
        "batch_event_index": index,
    }
    if event.get("utm_source"):
        row["collected_traffic_source"] = {
            "manual_source": event["utm_source"],
            "manual_medium": event.get("utm_medium"),
            "manual_campaign_name": event.get("utm_campaign"),
        }
    if "items" in event:
        row["items"] = [
            {
                "item_id": i["item_id"],
                "item_name": i.get("item_name"),
                "item_category": i.get("item_category"),
                "price": i.get("price"),
                "quantity": i.get("quantity", 1),
            }
            for i in event["items"]
        ]
    if name == "purchase":
        row["user_id"] = customer  # signed in at checkout
        row["ecommerce"] = {
            "transaction_id": event["transaction_id"],
            "purchase_revenue": event["value"],
        }
    return row


def write_ga4(walks: Iterable[Walk], out: IO[bytes]) -> int:
    """Every walk's events as GA4 export lines; returns the number of sessions."""
    sessions = 0
    encode = msgspec.json.Encoder().encode
    for walk in walks:
        sessions += 1
        out.write(b"".join(encode(row) + b"\n" for row in ga4_rows(walk)))
    return sessions


async def import_file(
    redis: AsyncRedis,
    store: Store,
    path: Path,
    fmt: str,
    *,
    now_ms: int,
    retention_days: int,
    progress: Callable[[Summary], None] | None = None,
) -> Summary:
    """Import an export file as `tarry import-events` does."""
    with path.open("rb") as stream:
        return await run_import(
            redis,
            store,
            read(fmt, stream),
            orders_only=fmt == "orders",
            now_ms=now_ms,
            retention_days=retention_days,
            progress=progress,
        )
