"""The product catalog: feed parsing (CSV, JSON lines, Google Merchant RSS/Atom), the
field-wise merge into Redis, `tarry import-catalog` and `POST /v1/admin/catalog`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import make_store, run_with_redis
from processes import run_cli

from widget_server.admin import catalog as admin_catalog
from widget_server.admin.catalog_import import FeedError, detect_format, parse_feed
from widget_server.storage import catalog as catalog_store
from widget_server.storage import keys
from widget_server.storage.catalog import is_displayable

CSV_FEED = """\
id,title,link,image_link,price,currency,product_type,google_product_category,brand
SKU-1,Blue mug,https://shop.example/p/1,https://img.example/1.jpg,12.50,usd,Home > Mugs,123,Acme
SKU-2,"Tea towel,
two lines",https://shop.example/p/2,https://img.example/2.jpg,4,EUR,Textiles,456,
SKU-3,Broken,https://shop.example/p/3,https://img.example/3.jpg,abc,USD,,,
SKU-4,Plain,https://shop.example/p/4,,,,,,
"""

JSONL_FEED = """\
{"item_id": "J1", "name": "Lamp", "url": "https://shop.example/j1", "price": 30, "currency": "GBP"}

{"sku": 77, "title": "Chair", "image_link": "https://shop.example/77.png", "price": "15.5 USD"}
{"item_id": "J3", "url": "javascript:alert(1)"}
not json
[1, 2]
"""

RSS_FEED = """\
<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">
  <channel>
    <title>Shop</title>
    <link>https://shop.example/</link>
    <item>
      <g:id>G1</g:id>
      <title>Plain title</title>
      <g:title>Mug &amp; saucer</g:title>
      <link>https://shop.example/g1</link>
      <g:image_link>https://cdn.shop.example/g1.jpg</g:image_link>
      <g:price>19.99 USD</g:price>
      <g:availability>in_stock</g:availability>
      <g:product_type>Home &gt; Kitchen&gt;Mugs</g:product_type>
      <g:google_product_category>Home &amp; Garden</g:google_product_category>
      <g:brand>Acme</g:brand>
      <g:shipping><g:country>US</g:country><g:price>4.00 USD</g:price></g:shipping>
    </item>
    <item>
      <g:id>G2</g:id>
      <title>Sold out</title>
      <g:link>https://shop.example/g2</g:link>
      <g:image_link>https://cdn.shop.example/g2.jpg</g:image_link>
      <g:price>5 EUR</g:price>
      <g:availability>out_of_stock</g:availability>
    </item>
    <item>
      <g:id>G3</g:id>
      <g:price>-1 USD</g:price>
    </item>
  </channel>
</rss>
"""

ATOM_FEED = """\
<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">
  <id>tag:shop.example,2024:feed</id>
  <entry>
    <id>tag:shop.example,2024:a1</id>
    <g:id>A1</g:id>
    <title>Atom item</title>
    <link rel="alternate" href="https://shop.example/a1"/>
    <g:image_link>https://cdn.shop.example/a1.jpg</g:image_link>
    <g:price>7.25 CAD</g:price>
    <g:availability>preorder</g:availability>
  </entry>
</feed>
"""

BOMB = """\
<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<rss xmlns:g="http://base.google.com/ns/1.0"><channel>
<item><g:id>&lol2;</g:id></item></channel></rss>
"""

EXTERNAL = """\
<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss xmlns:g="http://base.google.com/ns/1.0"><channel>
<item><g:id>X</g:id><g:title>&xxe;</g:title></item></channel></rss>
"""


def stored(settings: Any, store_id: str, *item_ids: str) -> dict[str, dict[str, Any]]:
    return run_with_redis(settings, lambda r: catalog_store.get_cards(r, store_id, item_ids))


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def auth(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


# -- parsing ---------------------------------------------------------------------------


def test_csv_aliases_multiline_cells_and_line_numbers() -> None:
    result = parse_feed(CSV_FEED.encode(), filename="feed.csv")
    assert result.errors == [{"line": 5, "error": "price: not a number ('abc')"}]
    one, two, four = result.cards
    assert one == {
        "item_id": "SKU-1",
        "name": "Blue mug",
        "url": "https://shop.example/p/1",
        "image": "https://img.example/1.jpg",
        "price": 12.5,
        "currency": "USD",
        "category": "Home > Mugs",  # product_type, not google_product_category
        "brand": "Acme",
    }
    assert two["name"] == "Tea towel, two lines" and "brand" not in two
    assert four == {"item_id": "SKU-4", "name": "Plain", "url": "https://shop.example/p/4"}


def test_csv_from_a_spreadsheet_in_a_european_locale() -> None:
    """Excel's plain "CSV" there: Windows-1252 (`é` is the byte E9), `;` between
    cells, decimal commas; what a `,` file holds is read as before."""
    feed = (
        "sku;name;price;url\n"
        "C-1;Café crème;2,50;https://shop.example/c1\n"
        "S-1;Sofa;1.234,50 EUR;https://shop.example/s1\n"
        "B-1;Bad;2,5,5;https://shop.example/b1\n"
    ).encode("cp1252")
    result = parse_feed(feed, filename="products.csv")
    assert [(c["item_id"], c["name"], c["price"]) for c in result.cards] == [
        ("C-1", "Café crème", 2.5),
        ("S-1", "Sofa", 1234.5),
    ]
    assert result.cards[1]["currency"] == "EUR"
    assert result.errors == [{"line": 4, "error": "price: not a number ('2,5,5')"}]
    plain = parse_feed(b'sku,price\nA,"2,50"\n', filename="p.csv")
    assert plain.errors == [{"line": 2, "error": "price: not a number ('2,50')"}]


def test_column_names_as_other_tools_write_them() -> None:
    """Spaces, hyphens, capitals and the common other names of each field."""
    feed = (
        "Product Code,Product Title,Product-Link,Image Src,Unit Price,Currency Code,Manufacturer\n"
        "P-1,Oak tray,https://shop.example/p1,https://img.example/p1.jpg,19.5,gbp,Acme\n"
    )
    [card] = parse_feed(feed.encode(), filename="export.csv").cards
    assert card == {
        "item_id": "P-1",
        "name": "Oak tray",
        "url": "https://shop.example/p1",
        "image": "https://img.example/p1.jpg",
        "price": 19.5,
        "currency": "GBP",
        "brand": "Acme",
    }
    european = "Item ID;Item Name;Unit Price\nE-1;Tasse;2,50\n".encode("cp1252")
    [cup] = parse_feed(european, filename="export.csv").cards
    assert (cup["item_id"], cup["name"], cup["price"]) == ("E-1", "Tasse", 2.5)


def test_links_given_as_paths_are_on_the_shops_site() -> None:
    feed = (
        b"Product ID,Product Name,Product URL,Image URL\n"
        b"7,Mug,/sample-mug/,//cdn.shop.example/mug.jpg\n"
        b"8,Bowl,https://shop.example/bowl,/images/bowl.jpg\n"
    )
    mug, bowl = parse_feed(feed, filename="products.csv", site="https://shop.example").cards
    assert (mug["url"], mug["image"]) == (
        "https://shop.example/sample-mug/",
        "https://cdn.shop.example/mug.jpg",
    )
    assert bowl["image"] == "https://shop.example/images/bowl.jpg"
    # Without the shop's address a path is no link, and the row still imports.
    result = parse_feed(feed, filename="products.csv")
    assert [c["item_id"] for c in result.cards] == ["7", "8"] and result.errors == []
    assert "url" not in result.cards[0] and "image" not in result.cards[1]


def test_a_sale_price_counts_while_its_dates_hold() -> None:
    """Google's and Meta's `sale_price` and `sale_price_effective_date`."""
    now = datetime.now(UTC)

    def stamp(days: int) -> str:
        return (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M%z")

    running = f"{stamp(-1)}/{stamp(1)}"
    ended = f"{stamp(-9)}/{stamp(-2)}"
    feed = "\n".join(
        json.dumps(record)
        for record in [
            {"id": "RUN", "price": "30 USD", "sale_price": "20 USD",
             "sale_price_effective_date": running},
            {"id": "OVER", "price": "30 USD", "sale_price": "20 USD",
             "sale_price_effective_date": ended},
            {"id": "OPEN", "price": 30, "sale_price": 19.5},
            {"id": "BAD", "price": 30, "sale_price": 20, "sale_price_effective_date": "soon"},
            {"id": "WORSE", "price": 30, "sale_price": "cheap"},
        ]
    )  # fmt: skip
    result = parse_feed(feed.encode(), "jsonl")
    prices = {c["item_id"]: (c["price"], c.get("currency")) for c in result.cards}
    assert prices == {"RUN": (20.0, "USD"), "OVER": (30.0, "USD"), "OPEN": (19.5, None)}
    assert [e["line"] for e in result.errors] == [4, 5]
    assert result.errors[0]["error"].startswith(
        "sale_price_effective_date: not a start/end interval such as"
    )
    assert result.errors[1]["error"] == "sale_price: not a number ('cheap')"
    rss = RSS_FEED.replace(
        "<g:price>19.99 USD</g:price>",
        f"<g:price>19.99 USD</g:price><g:sale_price>14.99 USD</g:sale_price>"
        f"<g:sale_price_effective_date>{running}</g:sale_price_effective_date>",
    )
    assert parse_feed(rss.encode(), "gmc").cards[0]["price"] == 14.99
    tsv = f"id\tprice\tsale_price\tsale_price_effective_date\nT\t9,50\t7,25\t{running}\n"
    assert parse_feed(tsv.encode(), "csv").cards[0]["price"] == 7.25


def test_jsonl_lines_are_numbered_from_one_counting_blank_lines() -> None:
    result = parse_feed(JSONL_FEED.encode())
    assert [c["item_id"] for c in result.cards] == ["J1", "77"]
    assert result.cards[1]["price"] == 15.5 and result.cards[1]["currency"] == "USD"
    assert result.errors == [
        {"line": 4, "error": "url: not an http(s) URL ('javascript:alert(1)')"},
        {"line": 5, "error": "json: not a JSON object (Expecting value)"},
        {"line": 6, "error": "json: not a JSON object"},
    ]


def test_gmc_rss_fields_and_the_line_of_a_bad_item() -> None:
    result = parse_feed(RSS_FEED.encode())
    assert result.errors == [{"line": 27, "error": "price: negative ('-1 USD')"}]
    assert RSS_FEED.splitlines()[26].strip() == "<item>"
    g1, g2 = result.cards
    assert g1 == {
        "item_id": "G1",
        "name": "Mug & saucer",  # g:title wins over title
        "url": "https://shop.example/g1",
        "image": "https://cdn.shop.example/g1.jpg",
        "price": 19.99,  # not the shipping price nested under g:shipping
        "currency": "USD",
        "category": "Home > Kitchen > Mugs",  # the full path, spacing normalized
        "brand": "Acme",
        "availability": "in_stock",
    }
    assert g2["url"] == "https://shop.example/g2" and g2["availability"] == "out_of_stock"


def test_gmc_atom_entries() -> None:
    (card,) = parse_feed(ATOM_FEED.encode()).cards
    assert card == {
        "item_id": "A1",
        "name": "Atom item",
        "url": "https://shop.example/a1",
        "image": "https://cdn.shop.example/a1.jpg",
        "price": 7.25,
        "currency": "CAD",
        "availability": "preorder",
    }


@pytest.mark.parametrize("feed", [BOMB, EXTERNAL])
def test_xml_with_a_doctype_is_refused(feed: str) -> None:
    with pytest.raises(FeedError, match="DOCTYPE or entity declaration is refused"):
        parse_feed(feed.encode())


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        (b"", "feed: empty"),
        (b"name,price\nA,1\n", "header: no item id column"),
        (b"\xff\xfe\x00garbage", "feed: not UTF-8 text"),
        (b"<rss><channel><item><g:id>1</g:id></item></channel></rss>", "unbound prefix"),
        (b"<rss><channel><item>", "line 1, column 21: not well-formed XML"),
        (b"<html><body>hi</body></html>", "no <item> or <entry>"),
    ],
)
def test_unreadable_feeds_name_the_problem(feed: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_feed(feed)


def test_row_validation() -> None:
    rows = [
        {"name": "no id"},
        {"item_id": "x" * 129},
        {"item_id": "a", "image": "ftp://cdn.example/a.jpg"},
        {"item_id": "a", "price": "NaN"},
        {"item_id": "a", "price": True},
        {"item_id": "a", "price": "3", "currency": "dollars"},
        {"item_id": "a", "name": {"nested": 1}},
    ]
    feed = "\n".join(json.dumps(r) for r in rows).encode()
    assert [e["error"] for e in parse_feed(feed, "jsonl").errors] == [
        "item_id: required",
        "item_id: longer than 128 characters",
        "image: not an http(s) URL ('ftp://cdn.example/a.jpg')",
        "price: not a number ('NaN')",
        "price: not a number (True)",
        "currency: not 3 letters such as USD ('dollars')",
        "name: not text ({'nested': 1})",
    ]


def test_format_detection() -> None:
    assert detect_format(b"id,name\n", "feed.CSV") == "csv"
    assert detect_format(b"{}", "items.ndjson") == "jsonl"
    assert detect_format(b"", "google.xml") == "gmc"
    assert detect_format(b"\xef\xbb\xbf  <?xml?>", None) == "gmc"
    assert detect_format(b'\n{"id": 1}', "export") == "jsonl"
    assert detect_format(b"id,name", "export.dat") == "csv"
    # An explicit format wins over the content.
    assert parse_feed(b"item_id\tname\nT1\tTabbed\n", "csv").cards == [
        {"item_id": "T1", "name": "Tabbed"}
    ]


def test_is_displayable() -> None:
    card = {
        "item_id": "1",
        "name": "Mug",
        "url": "https://s.example/1",
        "image": "https://s.example/1.jpg",
    }
    assert is_displayable(card)
    assert is_displayable({**card, "availability": "https://schema.org/InStock"})
    assert not is_displayable({**card, "availability": "out_of_stock"})
    assert not is_displayable({**card, "availability": "https://schema.org/OutOfStock"})
    assert not is_displayable({**card, "name": "  "})
    assert not is_displayable({k: v for k, v in card.items() if k != "image"})
    assert not is_displayable({**card, "url": None})


# -- storage ---------------------------------------------------------------------------


def test_merge_keeps_fields_the_new_record_lacks(settings) -> None:
    store, _ = make_store(settings)
    first = {
        "item_id": "M1",
        "name": "Mug",
        "url": "https://s.example/m1",
        "image": "https://s.example/m1.jpg",
        "brand": "Acme",
        "price": 10.0,
    }
    run_with_redis(settings, lambda r: catalog_store.upsert_cards(r, store.id, [first]))
    before = stored(settings, store.id, "M1")["M1"]
    update = {"item_id": "M1", "price": 8.5, "brand": None, "availability": "OutOfStock"}
    written = run_with_redis(settings, lambda r: catalog_store.upsert_cards(r, store.id, [update]))
    assert written == 1
    after = stored(settings, store.id, "M1", "unknown")
    assert set(after) == {"M1"}
    card = after["M1"]
    assert card["price"] == 8.5 and card["availability"] == "OutOfStock"
    assert card["name"] == "Mug" and card["brand"] == "Acme"  # null does not erase
    assert card["updated_ms"] >= before["updated_ms"] > 1_600_000_000_000
    assert not is_displayable(card)


def test_batches_and_repeated_ids(settings) -> None:
    store, _ = make_store(settings)
    cards = [{"item_id": f"I{n}", "name": f"Item {n}"} for n in range(1200)]
    cards.append({"item_id": "I0", "brand": "Later"})  # repeated in a later batch
    cards.append({"item_id": "I1199", "price": 3})  # repeated in the same batch
    written = run_with_redis(settings, lambda r: catalog_store.upsert_cards(r, store.id, cards))
    assert written == len(cards)
    got = stored(settings, store.id, "I0", "I600", "I1199")
    assert got["I0"] == {**got["I0"], "name": "Item 0", "brand": "Later"}
    assert got["I1199"]["name"] == "Item 1199" and got["I1199"]["price"] == 3
    assert got["I600"]["name"] == "Item 600"
    # Each batch bumps the catalog version, so servers drop cards cached before it.
    version = run_with_redis(settings, lambda r: r.get(keys.catalog_version(store.id)))
    assert int(version) == 3


def test_sample_cards_only_displayable(settings) -> None:
    store, _ = make_store(settings)
    good = [
        {
            "item_id": f"G{n}",
            "name": f"Good {n}",
            "url": f"https://s.example/{n}",
            "image": f"https://s.example/{n}.jpg",
        }
        for n in range(5)
    ]
    bad = [{"item_id": f"B{n}", "name": "No image"} for n in range(5)]
    sold = [{**good[0], "item_id": "S", "availability": "out_of_stock"}]
    run_with_redis(settings, lambda r: catalog_store.upsert_cards(r, store.id, good + bad + sold))
    sample = run_with_redis(settings, lambda r: catalog_store.sample_cards(r, store.id, 3))
    assert len(sample) == 3 and all(c["item_id"].startswith("G") for c in sample)
    everything = run_with_redis(settings, lambda r: catalog_store.sample_cards(r, store.id, 50))
    assert sorted(c["item_id"] for c in everything) == [f"G{n}" for n in range(5)]
    empty = run_with_redis(settings, lambda r: catalog_store.sample_cards(r, "nosuchstore1", 3))
    assert empty == []


# -- tarry import-catalog --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "feed", "imported", "rejected_lines"),
    [
        ("feed.csv", CSV_FEED, ["SKU-1", "SKU-2", "SKU-4"], [5]),
        ("feed.jsonl", JSONL_FEED, ["J1", "77"], [4, 5, 6]),
        ("google.xml", RSS_FEED, ["G1", "G2"], [27]),
        ("atom.xml", ATOM_FEED, ["A1"], []),
    ],
)
def test_cli_imports_each_format(
    cli_env, settings, capsys, tmp_path, name, feed, imported, rejected_lines
) -> None:
    store, _ = make_store(settings)
    path = write(tmp_path, name, feed)
    code, out, err = run_cli(capsys, "import-catalog", "--store", store.id, path, "--json")
    assert code == 0, err
    report = json.loads(out)  # the whole output is one JSON document
    assert report["imported"] == len(imported)
    assert [r["line"] for r in report["rejected"]] == rejected_lines
    assert set(stored(settings, store.id, *imported, "SKU-3", "G3")) == set(imported)


def test_cli_text_output_and_format_override(cli_env, settings, capsys, tmp_path) -> None:
    store, _ = make_store(settings)
    path = write(tmp_path, "export.dat", JSONL_FEED)
    code, out, _ = run_cli(capsys, "import-catalog", "--store", store.id, path, "--format", "jsonl")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"imported 2 items into store {store.id}; rejected 3"
    assert lines[1] == "  line 4: url: not an http(s) URL ('javascript:alert(1)')"


def test_cli_errors(cli_env, settings, capsys, tmp_path) -> None:
    store, _ = make_store(settings)
    feed = write(tmp_path, "feed.csv", CSV_FEED)
    code, out, err = run_cli(capsys, "import-catalog", "--store", "nosuchstore1", feed)
    assert (code, out) == (2, "")
    assert err.startswith("tarry: store: no store with id 'nosuchstore1'")

    missing = str(tmp_path / "missing.csv")
    code, _, err = run_cli(capsys, "import-catalog", "--store", store.id, missing)
    assert code == 2 and err.startswith(f"tarry: {missing}: cannot read (No such file")

    bad = write(tmp_path, "bad.csv", "id,price\nA,x\nB,-2\n")
    code, out, err = run_cli(capsys, "import-catalog", "--store", store.id, bad, "--json")
    assert (code, out) == (2, "")
    assert err.startswith(f"tarry: {bad}: no valid item to import; 2 rejected:\n  line 2: price")

    bomb = write(tmp_path, "bomb.xml", BOMB)
    code, _, err = run_cli(capsys, "import-catalog", "--store", store.id, bomb)
    assert code == 2 and "DOCTYPE" in err
    assert stored(settings, store.id, "SKU-1", "A", "B") == {}


# -- POST /v1/admin/catalog ------------------------------------------------------------


def test_cli_import_reaches_a_running_server_at_once(
    cli_env, client, settings, capsys, tmp_path
) -> None:
    """The server had asked for SKU-1's card (for a cart popup) before it existed:
    the miss it cached must not hide the imported card."""
    store, secret = make_store(settings)
    rule = client.post("/v1/admin/rules", json={"preset": "last_chance"}, headers=auth(secret))
    assert rule.status_code == 201, rule.text
    params = {"k": store.public_key, "vid": "v", "sid": "s", "page_type": "cart", "cart": "SKU-1"}

    def popup_html() -> str:
        [popup] = client.get("/v1/decide", params=params).json()["popups"]
        return str(popup["html"])

    assert "Blue mug" not in popup_html()
    code, _, _ = run_cli(
        capsys, "import-catalog", "--store", store.id, write(tmp_path, "f.csv", CSV_FEED)
    )
    assert code == 0
    assert "Blue mug" in popup_html()


def test_endpoint_needs_the_secret_key(client, settings) -> None:
    store, _ = make_store(settings)
    response = client.post("/v1/admin/catalog", content=CSV_FEED)
    assert response.status_code == 401
    assert response.json()["error"].startswith("authorization:")
    response = client.post("/v1/admin/catalog", content=CSV_FEED, headers=auth(store.public_key))
    assert response.status_code == 401


def test_endpoint_imports_by_content_type(client, settings) -> None:
    store, secret = make_store(settings)
    response = client.post(
        "/v1/admin/catalog",
        content=RSS_FEED,
        headers={**auth(secret), "content-type": "application/rss+xml; charset=utf-8"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "imported": 2,
        "rejected": [{"line": 27, "error": "price: negative ('-1 USD')"}],
    }
    response = client.post(
        "/v1/admin/catalog",
        content=JSONL_FEED,
        headers={**auth(secret), "content-type": "application/x-ndjson"},
    )
    assert response.json()["imported"] == 2
    response = client.post(  # no content type: detected from the content
        "/v1/admin/catalog", content=CSV_FEED, headers=auth(secret)
    )
    assert response.json()["imported"] == 3
    cards = stored(settings, store.id, "G1", "J1", "SKU-1")
    assert set(cards) == {"G1", "J1", "SKU-1"}
    assert cards["G1"]["category"] == "Home > Kitchen > Mugs"


def test_endpoint_format_parameter_wins(client, settings) -> None:
    _, secret = make_store(settings)
    response = client.post(
        "/v1/admin/catalog?format=jsonl",
        content='{"id": "Q1"}\n',
        headers={**auth(secret), "content-type": "text/csv"},
    )
    assert response.json() == {"imported": 1, "rejected": []}
    response = client.post("/v1/admin/catalog?format=xls", content="x", headers=auth(secret))
    assert response.status_code == 400
    assert response.json()["error"] == "format: must be one of csv, jsonl, gmc"


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"\x00\x01garbage\xff", "text/csv", "feed: not UTF-8 text"),
        (b"<rss><item>", "application/xml", "not well-formed XML"),
        (BOMB.encode(), "text/xml", "DOCTYPE or entity declaration is refused"),
        (EXTERNAL.encode(), "application/xml", "DOCTYPE or entity declaration is refused"),
        (b"", "text/csv", "feed: empty"),
        (b"id,price\nA,x\n", "text/csv", "feed: no valid item"),
    ],
)
def test_endpoint_refuses_unreadable_feeds(client, settings, body, content_type, message) -> None:
    store, secret = make_store(settings)
    response = client.post(
        "/v1/admin/catalog", content=body, headers={**auth(secret), "content-type": content_type}
    )
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert stored(settings, store.id, "A", "X") == {}


def test_endpoint_body_limit(client, settings, monkeypatch) -> None:
    _, secret = make_store(settings)
    monkeypatch.setattr(admin_catalog, "MAX_BODY", 100)
    response = client.post("/v1/admin/catalog", content="id\n" + "x\n" * 60, headers=auth(secret))
    assert response.status_code == 413
    assert response.json() == {"error": "body: larger than 100 bytes"}
