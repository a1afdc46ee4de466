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


def _page(title: str, body: str, head: str = "", lang: str = "en") -> str:
    return (
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'><title>{title}</title>"
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
        "/any": _page("Any page", "<main><h1>Page</h1></main>" + script, STYLE),
        "/spa": _page(
            "SPA",
            "<main><h1>App</h1><button id='go' onclick=\"history.pushState("
            "{},'','/spa/cart')\">Go</button></main>" + script,
            STYLE,
        ),
    }


class PageServer:
    """Serves `pages` (path → HTML) on localhost, in a thread."""

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
                body = server.content.get(path)
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
