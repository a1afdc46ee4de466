"""The demo shop's pages under /demo/: home, categories, products, cart, checkout
and thank-you, with Tarry's tag pasted in as a merchant would paste it.

Product pages carry schema.org Product JSON-LD, and the cart, checkout and
thank-you pages push GA4 e-commerce events to `dataLayer` (a purchase with its
transaction_id): what the snippet reads on a real shop. The pages answer 404 on a
server whose Redis has no demo store (`tarry serve` of a real one).

The shop is an app of its own (`create_app`), which app.py hands every path under
/demo: pages for people, whose errors are pages too, and no part of the API.
"""

from __future__ import annotations

import functools
import html
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from widget_server.demo import store as demo_store
from widget_server.demo.cart import (
    CART_COOKIE,
    MAX_QUANTITY,
    ORDER_COOKIE,
    Cart,
    order_cookie,
    read_cart,
    read_order,
)
from widget_server.demo.images import product_svg
from widget_server.demo.products import CATEGORIES, CURRENCY, Catalog, Product, catalog
from widget_server.metrics import Metrics, MetricsMiddleware
from widget_server.responses import STORAGE_ERRORS

PREFIX = "/demo"
COOKIE_DAYS = 30

env = jinja2.Environment(
    loader=jinja2.PackageLoader("widget_server.demo", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
    auto_reload=False,
)
env.filters["money"] = lambda amount: f"${amount:,.2f}"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
STATIC = {
    entry.name: (entry.read_bytes(), STATIC_TYPES["." + entry.name.rsplit(".", 1)[-1]])
    for entry in resources.files("widget_server.demo").joinpath("static").iterdir()
    if entry.name.endswith(tuple(STATIC_TYPES))
}


class ShopPage:
    """What a page handler gets: the request, the demo store's public key, the cart."""

    def __init__(self, request: Request, public_key: str) -> None:
        self.request = request
        self.public_key = public_key
        self.catalog = catalog()
        self.cart = read_cart(request.cookies.get(CART_COOKIE), self.catalog)
        self.base = str(request.base_url).rstrip("/")

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        html = env.get_template(template).render(
            public_key=self.public_key,
            categories=CATEGORIES,
            cart=self.cart,
            **context,
        )
        return HTMLResponse(html, status, headers={"Cache-Control": "no-store"})

    def problem(self, status: int, message: str) -> Response:
        return self.render("problem.html", status, message=message, title="Not possible")

    def item(self, product: Product, quantity: int | None = None) -> dict[str, Any]:
        """A product as GA4's e-commerce events name its fields."""
        item: dict[str, Any] = {
            "item_id": product.sku,
            "item_name": product.name,
            "item_category": product.category.name,
            "price": product.price,
        }
        if quantity is not None:
            item["quantity"] = quantity
        return item

    def cart_event(self, event: str, cart: Cart, **extra: Any) -> dict[str, Any]:
        return {
            "event": event,
            "ecommerce": {
                **extra,
                "currency": CURRENCY,
                "value": cart.total,
                "items": [self.item(line.product, line.quantity) for line in cart.lines],
            },
        }


Handler = Callable[[ShopPage], Awaitable[Response]]


def shop_page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            demo = await demo_store.find(request.app.state.storage.client)
        except STORAGE_ERRORS:
            return HTMLResponse(_bare("Tarry's storage is not answering.", "Try again"), 503)
        if demo is None:
            return HTMLResponse(
                _bare("This server has no demo shop: <code>tarry demo</code> makes one."), 404
            )
        return await handler(ShopPage(request, demo.store.public_key))

    return endpoint


def _bare(message: str, title: str = "No demo shop here") -> str:
    return env.get_template("bare.html").render(message=Markup(message), title=title)


def _featured(found: Catalog, offset: int, n: int = 10) -> list[Product]:
    """A few products of every category, the same on every visit."""
    picks: list[Product] = []
    for category in CATEGORIES:
        members = [p for p in found.in_category(category.slug) if p.in_stock]
        picks += members[offset::17][:2]
    return picks[:n]


@shop_page
async def home(page: ShopPage) -> Response:
    found = page.catalog
    covers = {c.slug: found.in_category(c.slug)[0] for c in CATEGORIES}
    return page.render(
        "home.html",
        covers=covers,
        bestsellers=_featured(found, 0),
        new_in=_featured(found, 5),
    )


@shop_page
async def category(page: ShopPage) -> Response:
    slug = page.request.path_params["slug"]
    found = page.catalog.category(slug)
    if found is None:
        return page.problem(404, f"There is no category called “{slug}”.")
    products = page.catalog.in_category(slug)
    data_layer = {
        "event": "view_item_list",
        "ecommerce": {
            "item_list_id": slug,
            "item_list_name": found.name,
            "items": [page.item(p) for p in products[:20]],
        },
    }
    return page.render("category.html", category=found, products=products, data_layer=data_layer)


def _product_ld(page: ShopPage, product: Product) -> dict[str, Any]:
    url = f"{page.base}{PREFIX}/products/{product.slug}"
    return {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.name,
        "sku": product.sku,
        "image": f"{page.base}{PREFIX}/images/{product.sku}.svg",
        "description": product.description,
        "category": product.category.name,
        "brand": {"@type": "Brand", "name": "Tarry demo shop"},
        "url": url,
        "offers": {
            "@type": "Offer",
            "price": f"{product.price:.2f}",
            "priceCurrency": CURRENCY,
            "availability": product.availability,
            "url": url,
        },
    }


@shop_page
async def product(page: ShopPage) -> Response:
    found = page.catalog.by_sku.get(page.request.path_params["slug"].upper())
    if found is None:
        return page.problem(404, "There is no such product (any more).")
    return page.render(
        "product.html",
        product=found,
        json_ld=_product_ld(page, found),
        max_quantity=MAX_QUANTITY,
    )


@shop_page
async def cart_page(page: ShopPage) -> Response:
    data_layer = page.cart_event("view_cart", page.cart) if page.cart.lines else None
    return page.render("cart.html", data_layer=data_layer)


async def _form_product(page: ShopPage) -> tuple[Product, int] | Response:
    form = await page.request.form()
    sku = str(form.get("sku") or "").strip().upper()
    found = page.catalog.by_sku.get(sku)
    if found is None:
        return page.problem(400, f"sku: there is no product {sku or '(none given)'}.")
    raw = str(form.get("quantity") or "1").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_QUANTITY:
        return page.problem(400, f"quantity: must be a whole number from 1 to {MAX_QUANTITY}.")
    return found, int(raw)


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}{path}", 303)


def _keep(response: Response, name: str, value: str) -> Response:
    response.set_cookie(
        name, value, max_age=COOKIE_DAYS * 86_400, path=PREFIX, httponly=True, samesite="lax"
    )
    return response


@shop_page
async def add_to_cart(page: ShopPage) -> Response:
    chosen = await _form_product(page)
    if isinstance(chosen, Response):
        return chosen
    found, quantity = chosen
    if not found.in_stock:
        return page.problem(400, f"sku: {found.name} is sold out.")
    return _keep(_to("/cart"), CART_COOKIE, page.cart.add(found, quantity).cookie())


@shop_page
async def remove_from_cart(page: ShopPage) -> Response:
    form = await page.request.form()
    cart = page.cart.remove(str(form.get("sku") or "").strip().upper())
    return _keep(_to("/cart"), CART_COOKIE, cart.cookie())


@shop_page
async def checkout_page(page: ShopPage) -> Response:
    if not page.cart.lines:
        return _to("/cart")
    return page.render("checkout.html", data_layer=page.cart_event("begin_checkout", page.cart))


@shop_page
async def place_order(page: ShopPage) -> Response:
    if not page.cart.lines:
        return _to("/cart")
    order_id = "TD" + "".join(secrets.choice("0123456789") for _ in range(8))
    response = _keep(_to("/thank-you"), ORDER_COOKIE, order_cookie(order_id, page.cart))
    response.delete_cookie(CART_COOKIE, path=PREFIX)
    return response


@shop_page
async def thank_you(page: ShopPage) -> Response:
    order = read_order(page.request.cookies.get(ORDER_COOKIE), page.catalog)
    if order is None:
        return _to("/")
    order_id, lines = order
    data_layer = page.cart_event("purchase", lines, transaction_id=order_id)
    return page.render("thank_you.html", order_id=order_id, order=lines, data_layer=data_layer)


async def image(request: Request) -> Response:
    name = request.path_params["name"]
    found = catalog().by_sku.get(name.removesuffix(".svg").upper())
    if found is None or not name.endswith(".svg"):
        return Response("no such image", 404, media_type="text/plain")
    return Response(
        product_svg(found),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


async def static_file(request: Request) -> Response:
    found = STATIC.get(request.path_params["name"])
    if found is None:
        return Response("no such file", 404, media_type="text/plain")
    body, media_type = found
    return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


async def to_home(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/", 308)


Endpoint = Callable[[Request], Awaitable[Response]]


def _route(path: str, endpoint: Endpoint, method: str = "GET") -> Route:
    return Route(PREFIX + path, endpoint, methods=[method])


routes = [
    _route("", to_home),
    _route("/", home),
    _route("/collections/{slug}", category),
    _route("/products/{slug}", product),
    _route("/cart", cart_page),
    _route("/cart/add", add_to_cart, "POST"),
    _route("/cart/remove", remove_from_cart, "POST"),
    _route("/checkout", checkout_page),
    _route("/checkout", place_order, "POST"),
    _route("/thank-you", thank_you),
    _route("/images/{name}", image),
    _route("/static/{name}", static_file),
]


def owns(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = sorted(
            {m for r in routes if r.path_regex.match(request.url.path) for m in r.methods or ()}
        )
        message = (
            f"This page takes no {html.escape(request.method)}; it takes {', '.join(allowed)}."
        )
        page = HTMLResponse(_bare(message, "Not possible here"), 405)
        page.headers["Allow"] = ", ".join(allowed)
        return page
    if exc.status_code == 404:
        message = 'There is no such page in the demo shop. <a href="/demo/">Back to the shop</a>'
        return HTMLResponse(_bare(message, "No such page"), 404)
    return HTMLResponse(_bare("The shop could not read that request.", "Not possible"), 400)


async def _server_error(request: Request, exc: Exception) -> Response:
    return HTMLResponse(_bare("Something went wrong in the demo shop.", "Sorry"), 500)


def create_app(api: Starlette, metrics: Metrics) -> Starlette:
    """The shop's app, sharing the API app's state (its storage, opened by the API
    app's lifespan) and its request metrics."""
    shop = Starlette(
        routes=routes,
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    shop.state = api.state
    return shop
