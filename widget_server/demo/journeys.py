"""A simulated visit as pages of the demo shop, and the events the snippet records on
them: what the synthetic shopper viewed, carted and bought, dressed as a real
visit (a landing page, category pages between products, the cart page after each
add, checkout and a thank-you page for an order, time on every page).

`Walk.page_events` gives each page's events in the shape `POST /v1/collect` takes;
a live walk also asks `onsite` (Tarry on the page: carousels and popups) what the
shopper saw there, which may change where they go next.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Protocol

from widget_server.demo.products import CURRENCY, Catalog, Category, Product
from widget_server.demo.shoppers import Shopper, Source, source, token, unit
from widget_server.demo.timeline import Visit

# Visits that only browse and end on their landing page (on top of the synthetic
# shop's own one-view sessions): most shops see four or five in ten.
BOUNCE_SHARE = 0.45
MIN_PAGE_MS = 800
# Pages left sooner send no engagement event here: the snippet would send one, but
# its few seconds count towards no engaged session, and a third fewer events import
# faster.
ENGAGEMENT_MIN_MS = 5_000
TITLES = {
    "home": "Small things for slow mornings",
    "cart": "Your cart",
    "checkout": "Checkout",
    "thank_you": "Thank you",
}
PATHS = {"home": "/", "cart": "/cart", "checkout": "/checkout", "thank_you": "/thank-you"}


@dataclasses.dataclass
class Page:
    kind: str  # home, category, product, cart, checkout or thank_you
    ts: int
    product: Product | None = None
    category: Category | None = None
    adds: list[tuple[Product, int, int]] = dataclasses.field(default_factory=list)


def quantity(visitor: int, product: Product) -> int:
    return 2 if unit("quantity", visitor, product.sku) < 0.12 else 1


def order_id(visitor: int, number: int) -> str:
    return "TD" + str(int(unit("order", visitor, number) * 10**8)).zfill(8)


def plan(visit: Visit, came_from: Source, found: Catalog) -> list[Page]:
    """The pages of `visit`, in order, each with its time."""
    start = visit.start_ms
    steps = visit.steps
    first = found.by_item[steps[0].item]
    pages: list[Page] = []
    if came_from.landing == "home":
        pages.append(Page("home", start))
    elif came_from.landing == "category":
        pages.append(Page("category", start, category=first.category))
    browsing = all(step.kind == "view_item" for step in steps)
    if browsing and unit("bounce", visit.visitor, visit.number) < BOUNCE_SHARE:
        return pages or [Page("product", start, product=first)]
    for step in steps:
        product = found.by_item[step.item]
        at = start + step.offset_ms
        last = pages[-1] if pages else None
        if step.kind == "view_item":
            if (
                last is not None
                and last.product is not None
                and last.product.category != product.category
                and unit("browse", visit.visitor, visit.number, step.offset_ms) < 0.3
            ):
                pages.append(Page("category", at - 4000, category=product.category))
            pages.append(Page("product", at, product=product))
        elif step.kind == "add_to_cart":
            on = last
            if on is None or on.product != product:
                on = Page("product", at - 3000, product=product)
                pages.append(on)
            on.adds.append((product, quantity(visit.visitor, product), at))
            pages.append(Page("cart", at + 1500))
        elif last is None or last.kind != "thank_you":  # every line of an order at once
            before = last.ts if last is not None else start
            if last is None or last.kind != "cart":
                pages.append(Page("cart", before + (at - before) // 3))
            pages.append(Page("checkout", before + 2 * (at - before) // 3))
            pages.append(Page("thank_you", at))
    return in_order(pages)


def in_order(pages: list[Page]) -> list[Page]:
    """Each page at least a moment after the one before (the plan's estimates can
    cross), and each add-to-cart on its page's time."""
    for before, page in itertools.pairwise(pages):
        page.ts = max(page.ts, before.ts + MIN_PAGE_MS)
    for index, page in enumerate(pages):
        leave = pages[index + 1].ts if index + 1 < len(pages) else page.ts + 60_000
        page.adds = [(p, n, min(max(at, page.ts + 500), leave - 300)) for p, n, at in page.adds]
    return pages


class Onsite(Protocol):
    """Tarry on the shop's pages: what a live visitor saw (popups, carousels)."""

    def on_page(self, walk: Walk, index: int) -> list[dict[str, Any]]: ...

    def on_order(self, walk: Walk, at: int) -> None: ...


class Walk:
    """One visit, page by page: the shopper's cart and the events of each page."""

    def __init__(
        self,
        shopper: Shopper,
        visit: Visit,
        found: Catalog,
        base_url: str,
        end_ms: int,
        onsite: Onsite | None = None,
    ) -> None:
        self.shopper = shopper
        self.visit = visit
        self.catalog = found
        self.base = base_url.rstrip("/") + "/demo"
        self.end_ms = end_ms  # nothing happens after this moment
        self.onsite = onsite
        self.source = source(visit.visitor, visit.number)
        self.pages = plan(visit, self.source, found)
        self.session_id = token("session", visit.visitor, visit.number)
        self.cart: dict[str, tuple[Product, int]] = {}
        self.clicked: dict[str, str] = {}  # item -> rec_id of the carousel it came from
        self.bought = False
        self._serial = 0

    # -- what the pages are ----------------------------------------------

    def path(self, page: Page) -> str:
        if page.product is not None:
            return f"/products/{page.product.slug}"
        if page.category is not None:
            return f"/collections/{page.category.slug}"
        return PATHS[page.kind]

    def url(self, page: Page) -> str:
        return self.base + self.path(page)

    def title(self, page: Page) -> str:
        if page.product is not None:
            return page.product.name
        if page.category is not None:
            return page.category.name
        return TITLES[page.kind]

    def leave_ms(self, index: int) -> int:
        """When the shopper leaves page `index`: the next page, or a while later."""
        if index + 1 < len(self.pages):
            return self.pages[index + 1].ts
        page = self.pages[index]
        draw = unit("stay", self.visit.visitor, self.visit.number)
        # A bounce mostly leaves within seconds; a visit that went on, after a while.
        stay = 2_000 + 20_000 * draw**3 if len(self.pages) == 1 else 4_000 + 80_000 * draw**2
        return min(page.ts + int(stay), self.end_ms)

    def card(self, product: Product) -> dict[str, Any]:
        """The product as the snippet reads it from the page's JSON-LD."""
        return {
            "item_id": product.sku,
            "item_name": product.name,
            "item_category": product.category.name,
            "price": product.price,
            "image": f"{self.base}/images/{product.sku}.svg",
            "url": f"{self.base}/products/{product.slug}",
            "availability": product.availability,
        }

    def cart_items(self) -> list[dict[str, Any]]:
        return [
            {
                "item_id": p.sku,
                "item_name": p.name,
                "item_category": p.category.name,
                "price": p.price,
                "quantity": n,
            }
            for p, n in self.cart.values()
        ]

    def cart_value(self) -> float:
        return round(sum(p.price * n for p, n in self.cart.values()), 2)

    # -- what the snippet records -------------------------------------------

    def event(self, kind: str, ts: int, page: Page, **fields: Any) -> dict[str, Any]:
        self._serial += 1
        return {
            "id": f"{self.session_id}.{self._serial}",
            "type": kind,
            "ts": ts,
            "vid": self.shopper.visitor_id,
            "sid": self.session_id,
            "url": self.url(page) + (self.source.query() if page is self.pages[0] else ""),
            "page_type": page.kind,
            **fields,
        }

    def page_events(self, index: int) -> list[dict[str, Any]]:
        """The events of page `index`, in time order; pages may be added after it
        (the shopper changed their mind)."""
        page = self.pages[index]
        first = index == 0
        view: dict[str, Any] = {"title": self.title(page)}
        referrer = self.source.referrer if first else self.url(self.pages[index - 1])
        if referrer:
            view["ref"] = referrer
        if first:
            view.update(self.source.utm)
        events = [self.event("page_view", page.ts, page, **view)]
        if page.product is not None:
            card = self.card(page.product)
            events.append(
                self.event(
                    "view_item",
                    page.ts + 5,
                    page,
                    items=[card],
                    value=page.product.price,
                    currency=CURRENCY,
                )
            )
        if page.kind == "cart" and self.cart:
            events.append(
                self.event(
                    "view_cart",
                    page.ts + 5,
                    page,
                    items=self.cart_items(),
                    value=self.cart_value(),
                    currency=CURRENCY,
                )
            )
        if page.kind == "checkout" and self.cart:
            events.append(
                self.event(
                    "begin_checkout",
                    page.ts + 5,
                    page,
                    items=self.cart_items(),
                    value=self.cart_value(),
                    currency=CURRENCY,
                )
            )
        if page.kind == "thank_you" and self.cart:
            events.append(self.purchase(page))
        if self.onsite is not None:
            events += self.onsite.on_page(self, index)
        for product, count, at in page.adds:
            events.append(self.add(page, product, count, at))
        leave = self.leave_ms(index)
        if leave - page.ts >= ENGAGEMENT_MIN_MS:
            visible = int((leave - page.ts) * (0.7 + 0.3 * unit("visible", page.ts)))
            events.append(self.event("engagement", leave - 50, page, engaged_ms=visible))
        events.sort(key=lambda e: e["ts"])
        return events

    def add(self, page: Page, product: Product, count: int, at: int) -> dict[str, Any]:
        held = self.cart.get(product.sku)
        self.cart[product.sku] = (product, count + (held[1] if held else 0))
        fields: dict[str, Any] = {
            "items": [{**self.card(product), "quantity": count}],
            "value": round(product.price * count, 2),
            "currency": CURRENCY,
        }
        if product.sku in self.clicked:
            fields["rec_id"] = self.clicked[product.sku]
        return self.event("add_to_cart", at, page, **fields)

    def purchase(self, page: Page) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "items": self.cart_items(),
            "value": self.cart_value(),
            "currency": CURRENCY,
            "transaction_id": order_id(self.visit.visitor, self.visit.number),
        }
        rec = next((self.clicked[sku] for sku in self.cart if sku in self.clicked), None)
        if rec is not None:
            fields["rec_id"] = rec
        self.cart = {}
        self.bought = True
        if self.onsite is not None:
            self.onsite.on_order(self, page.ts)
        return self.event("purchase", page.ts + 5, page, **fields)

    def divert(self, index: int, pages: list[Page]) -> bool:
        """The shopper goes to `pages` after page `index` instead of where they meant
        to; not when the new way would end after `end_ms`."""
        if not pages or pages[-1].ts >= self.end_ms:
            return False
        self.pages[index + 1 :] = pages
        return True

    def pages_events(self) -> list[list[dict[str, Any]]]:
        """Every page's events (pages added on the way included)."""
        found = []
        index = 0
        while index < len(self.pages):
            found.append(self.page_events(index))
            index += 1
        return found
