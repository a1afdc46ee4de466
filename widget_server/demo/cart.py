"""The demo shop's cart and last order, kept in the shopper's cookies (the shop has
no database): `TD-1001:2.TD-1044:1`, an order with its id in front."""

from __future__ import annotations

import dataclasses
import re

from widget_server.demo.products import Catalog, Product

CART_COOKIE = "tarry_demo_cart"
ORDER_COOKIE = "tarry_demo_order"
MAX_QUANTITY = 10
MAX_LINES = 30
_LINE = re.compile(r"^(TD-\d{4}):(\d{1,2})$")
_ORDER_ID = re.compile(r"^TD\d{8}$")


@dataclasses.dataclass(frozen=True)
class Line:
    product: Product
    quantity: int

    @property
    def total(self) -> float:
        return round(self.product.price * self.quantity, 2)


@dataclasses.dataclass(frozen=True)
class Cart:
    lines: tuple[Line, ...] = ()

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def total(self) -> float:
        return round(sum(line.total for line in self.lines), 2)

    def add(self, product: Product, quantity: int) -> Cart:
        lines = list(self.lines)
        for index, line in enumerate(lines):
            if line.product.sku == product.sku:
                lines[index] = Line(product, min(MAX_QUANTITY, line.quantity + quantity))
                return Cart(tuple(lines))
        return Cart(tuple([*lines, Line(product, quantity)][-MAX_LINES:]))

    def remove(self, sku: str) -> Cart:
        return Cart(tuple(line for line in self.lines if line.product.sku != sku))

    def cookie(self) -> str:
        return ".".join(f"{line.product.sku}:{line.quantity}" for line in self.lines)


def read_cart(raw: str | None, catalog: Catalog) -> Cart:
    """The cart a cookie holds; what no longer makes sense in it is dropped."""
    lines: list[Line] = []
    for part in (raw or "").split("."):
        match = _LINE.match(part)
        if match is None:
            continue
        product = catalog.by_sku.get(match.group(1))
        quantity = int(match.group(2))
        if product is not None and 1 <= quantity <= MAX_QUANTITY:
            lines.append(Line(product, quantity))
    return Cart(tuple(lines[:MAX_LINES]))


def order_cookie(order_id: str, cart: Cart) -> str:
    return f"{order_id}.{cart.cookie()}"


def read_order(raw: str | None, catalog: Catalog) -> tuple[str, Cart] | None:
    order_id, _, lines = (raw or "").partition(".")
    if not _ORDER_ID.match(order_id):
        return None
    cart = read_cart(lines, catalog)
    return (order_id, cart) if cart.lines else None
