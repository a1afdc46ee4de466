"""Test store pages for the snippet's browser tests, and the small HTTP server that
serves them on localhost (a different origin from Tarry's 127.0.0.1, as a real
store is)."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any

PRODUCT_LD = {
    "@context": "https://schema.org",
    "@graph": [
        {"@type": "WebSite", "name": "Test shop"},
        {
            "@type": "Product",
            "sku": "SKU-1",
            "name": "Linen shirt",
            "image": ["https://img.shop.test/sku-1.jpg"],
            "category": "Shirts",
            "brand": {"@type": "Brand", "name": "Loom"},
            "url": "http://localhost/p/sku-1",
            "offers": {
                "@type": "Offer",
                "price": "29.90",
                "priceCurrency": "EUR",
                "availability": "https://schema.org/InStock",
            },
        },
    ],
}


def _variant(number: int, sku: str, colour: str, availability: str) -> dict[str, Any]:
    address = f"/products/shirt?variant={number}"
    return {
        "@id": f"{address}#variant",
        "@type": "Product",
        "image": f"https://cdn.shop.test/shirt-{colour.lower()}.jpg?v=1&width=1920",
        "name": f"Oxford shirt - {colour}",
        "offers": {
            "@id": f"{address}#offer",
            "@type": "Offer",
            "availability": f"http://schema.org/{availability}",
            "price": "45.00",
            "priceCurrency": "CAD",
            "url": f"https://shirts.shop.test{address}",
        },
        "sku": sku,
    }


SHOPIFY_GROUP = {
    "@context": "http://schema.org/",
    "@id": "/products/shirt#product",
    "@type": "ProductGroup",
    "brand": {"@type": "Brand", "name": "Loom"},
    "category": "",
    "description": "",
    "hasVariant": [
        _variant(111, "OX-WHITE", "White", "OutOfStock"),
        _variant(222, "OX-BLUE", "Blue", "InStock"),
        _variant(333, "OX-PINK", "Pink", "InStock"),
    ],
    "name": "Oxford shirt",
    "productGroupID": "8123456789",
    "url": "https://shirts.shop.test/products/shirt",
}


def _page(title: str, body: str, head: str = "", lang: str = "en", dir: str = "ltr") -> str:
    return (
        f"<!doctype html><html lang='{lang}' dir='{dir}'><head><meta charset='utf-8'>"
        f"<title>{title}</title>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"{head}</head><body>{body}</body></html>"
    )


STYLE = (
    "<style>body{font:16px sans-serif;margin:0}header{height:60px;background:#234}"
    "main{padding:24px}.tall{height:2400px}</style>"
)


def pages(script: str) -> dict[str, str]:
    """Every page of the test store; `script` is the tag the merchant pasted."""
    ld = f"<script type='application/ld+json'>{json.dumps(PRODUCT_LD)}</script>"
    ga4_only = (
        "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
        "gtag('event','view_item',{currency:'USD',value:12.5,items:[{item_id:'GA-7',"
        "item_name:'Mug',item_category:'Kitchen',price:12.5,quantity:1,index:0,"
        "item_list_name:'Related'}]});</script>"
    )
    segment = (
        "<script>window.analytics=[];analytics.track=function(){analytics.push("
        "['track'].concat([].slice.call(arguments)))};</script>"
    )
    return {
        "/": _page(
            "Home",
            "<header></header><main><h1>Home</h1><p>Welcome.</p>"
            "<div class='tall'></div></main>" + script,
            STYLE,
        ),
        "/p/sku-1": _page(
            "Linen shirt",
            "<header></header><main><h1>Linen shirt</h1>"
            "<form action='/cart/add' method='get'><input name='quantity' value='2'>"
            "<button id='buy'>Add to cart</button></form>"
            "<div data-tarry-showcase='similar'></div><div class='tall'></div>"
            "</main>" + script,
            STYLE + ld,
        ),
        # The same product on a right-to-left store.
        "/rtl/p/sku-1": _page(
            "قميص",
            "<header></header><main><h1>قميص كتان</h1>"
            "<div data-tarry-showcase='similar'></div><div class='tall'></div>"
            "</main>" + script,
            STYLE + ld,
            lang="ar",
            dir="rtl",
        ),
        "/p/ga-7": _page(
            "Mug",
            "<header></header><main><h1>Mug</h1><button id='add' "
            "onclick=\"gtag('event','add_to_cart',{currency:'USD',value:25,items:"
            "[{item_id:'GA-7',item_name:'Mug',price:12.5,quantity:2}]})\">Add"
            "</button></main>" + script,
            STYLE + ga4_only,
        ),
        "/cart": _page("Cart", "<header></header><main><h1>Your cart</h1></main>" + script, STYLE),
        "/checkout/thank-you": _page(
            "Thank you",
            "<main><h1>Thank you</h1></main>"
            + segment
            + "<script>analytics.track('Order Completed',{order_id:'T-1',total:42,"
            "currency:'EUR',products:[{product_id:'SKU-1',name:'Linen shirt',price:21,"
            "quantity:2}]})</script>" + script,
            STYLE,
        ),
        "/hostile": _page(
            "Hostile",
            "<div class='cover'>Cover</div><main><h1>Hostile</h1></main>" + script,
            "<style>*{display:none!important}html,body{display:block!important}"
            ".cover{display:block!important;position:fixed;inset:0;background:#c00;"
            "z-index:2147483647!important}tarry-popup,div{visibility:hidden!important;"
            "opacity:0!important;width:0!important}</style>",
        ),
        # A Shopify-style product: a ProductGroup whose offers carry the SKU, and a
        # price written with a thousands separator.
        "/products/lamp": _page(
            "Lamp",
            "<main><h1>Lamp</h1></main>" + script,
            "<script type='application/ld+json'>"
            + json.dumps(
                {
                    "@context": "https://schema.org",
                    "@type": "ProductGroup",
                    "name": "Brass lamp",
                    "image": {"@type": "ImageObject", "url": "https://img.shop.test/lamp.jpg"},
                    "offers": [
                        {
                            "@type": "Offer",
                            "sku": "LAMP-9",
                            "price": "1,299.00",
                            "priceCurrency": "USD",
                            "availability": "http://schema.org/OutOfStock",
                        }
                    ],
                }
            )
            + "</script>",
        ),
        # Shopify's own `{{ product | structured_data }}` for a product with
        # variants: a ProductGroup whose variants, each with its SKU, name and
        # offer, are under hasVariant; the first is sold out.
        "/products/shirt": _page(
            "Shirt",
            "<main><h1>Shirt</h1><form action='/cart/add' method='post' onsubmit='return false'>"
            "<input name='quantity' value='2'><button id='add'>Add to cart</button></form>"
            "</main>" + script,
            "<script type='application/ld+json'>" + json.dumps(SHOPIFY_GROUP) + "</script>",
        ),
        # Magento's Luma theme: Open Graph without an id, the SKU in microdata.
        "/joust-duffle-bag.html": _page(
            "Joust Duffle Bag",
            "<main itemscope itemtype='http://schema.org/Product'><h1 itemprop='name'>"
            "Joust Duffle Bag</h1><div class='product attribute sku'><strong class='type'>"
            "SKU</strong>\n  <div class='value' itemprop='sku'> 24-MB01 </div></div></main>"
            + script,
            _og("product", "https://luma.shop.test/joust-duffle-bag.html")
            + "<meta property='og:title' content='Joust Duffle Bag'>"
            "<meta property='product:price:amount' content='34'>"
            "<meta property='product:price:currency' content='USD'>",
        ),
        # The same, the SKU in a <meta> (PrestaShop's and others' themes).
        "/en/12-mug.html": _page(
            "Mug",
            "<main itemscope itemtype='https://schema.org/Product'>"
            "<meta itemprop='sku' content='demo_12'><h1>Mug</h1></main>" + script,
            _og("product", "https://presta.shop.test/en/12-mug.html"),
        ),
        "/any": _page("Any page", "<main><h1>Page</h1></main>" + script, STYLE),
        "/spa": _page(
            "SPA",
            "<main><h1>App</h1><button id='go' onclick=\"history.pushState("
            "{},'','/spa/cart')\">Go</button></main>" + script,
            STYLE,
        ),
    }


def _shaped(title: str, script: str, head: str = "", body_attrs: str = "") -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"{head}</head><body {body_attrs}><main><h1>{title}</h1></main>{script}</body></html>"
    )


def _og(kind: str, url: str) -> str:
    return f"<meta property='og:type' content='{kind}'><meta property='og:url' content='{url}'>"


def _canonical(url: str) -> str:
    return f"<link rel='canonical' href='{url}'>"


SHOPIFY_HOME = (
    "<script>window.ShopifyAnalytics=window.ShopifyAnalytics||{};"
    "window.ShopifyAnalytics.meta=window.ShopifyAnalytics.meta||{};"
    'var meta={"page":{"pageType":"home"}};'
    "for(var attr in meta){window.ShopifyAnalytics.meta[attr]=meta[attr]}</script>"
)


def home_pages(script: str) -> dict[str, str]:
    """A store's home page the ways themes publish it, and pages that are not it.
    Keys with a query are served for that exact address (PageServer)."""
    return {
        "/": _shaped("Home", script),
        "/index.html": _shaped("Home", script),
        "/index.php": _shaped("Home", script),
        "/home": _shaped("Home", script),
        # Found by the page's canonical link, or Open Graph's url on a website page.
        "/welcome": _shaped("Welcome", script, _canonical("https://shop.test/")),
        "/landing": _shaped("Landing", script, _og("website", "https://shop.test/")),
        # The platforms' own marks.
        "/fr": _shaped("Accueil", script, SHOPIFY_HOME),  # a Shopify Markets subfolder
        "/en-ca": _shaped("Home", script, body_attrs="class='template-index'"),  # Shopify themes
        # WordPress (and WooCommerce) installed under /shop/: its front page.
        "/shop/": _shaped("Home", script, body_attrs="class='home page-template-default'"),
        "/default/": _shaped("Home", script, body_attrs="class='cms-index-index cms-home'"),
        "/en/": _shaped("Home", script, body_attrs="id='index' class='lang-en page-index'"),
        "/index.php?route=common/home": _shaped(
            "Home", script, body_attrs="class='common-home'"
        ),  # OpenCart
        # Not the home page, though some look like it.
        "/index.php?route=product/category&path=20": _shaped(
            "Lamps", script, body_attrs="class='product-category-20'"
        ),
        "/?page_id=7": _shaped("About", script, body_attrs="class='page page-id-7'"),
        "/?product=lamp": _shaped(
            "Lamp", script, _og("product", "https://shop.test/?product=lamp")
        ),  # WooCommerce without pretty links
        "/collections/all": _shaped(
            "All", script, _og("website", "https://shop.test/collections/all")
        ),
        "/about-us": _shaped("About", script, _canonical("https://shop.test/about-us")),
    }


def sub_path_pages(script: str) -> dict[str, str]:
    """A shop under /shop/ (the tag says `data-home="/shop/"`), beside a site whose
    root is not the shop."""
    return {
        "/": _shaped("Our company", script),
        "/shop/": _shaped("Shop", script),
        "/shop": _shaped("Shop", script),
        "/shop/index.php": _shaped("Shop", script),
        "/start": _shaped("Shop", script, _canonical("https://shop.test/shop/")),
        "/shop/category/lamps/": _shaped("Lamps", script),
        "/shop/linen-shirt": _shaped(
            "Linen shirt", script, _og("product", "https://shop.test/shop/linen-shirt")
        ),
        "/shop/about": _shaped("About", script),
    }


class PageServer:
    """Serves `pages` (path → HTML) on localhost, in a thread: a key with a query
    for that address, else the key of its path."""

    def __init__(self, content: dict[str, str]) -> None:
        self.content = content
        handler = self._handler()
        self.httpd = http.server.ThreadingHTTPServer(("localhost", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _handler(self) -> Any:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                body = server.content.get(self.path) or server.content.get(path)
                if body is None and path.startswith("/spa"):
                    body = server.content["/spa"]
                if body is None and "/any" in server.content:
                    body = server.content["/any"]
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"
