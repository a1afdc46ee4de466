"""A popup rendered from its cached frame, with this visitor's blocks put in, is the
very HTML the whole template gives in one go, whatever the rule, the visitor's
code, countdown, cart and product strip."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from widget_server.popups import render
from widget_server.popups.presets import PRESETS, from_preset
from widget_server.popups.render import CountdownView, render_popup, render_whole
from widget_server.popups.schema import Content, Rule, check_rule

PRODUCTS = [
    {
        "item_id": "p1",
        "name": 'Red <b>shoes</b> & "more"',
        "url": "https://shop.example/p1?a=1&b=2",
        "image": "https://shop.example/p1.jpg",
        "price": 12.5,
        "currency": "EUR",
        "reason": "Because you viewed <this>",
    },
    {
        "item_id": "p'2",
        "name": "Hat",
        "url": "/p2",
        "image": "/p2.jpg",
        "price": None,
        "currency": None,
        "reason": "",
    },
    {
        "item_id": "p3",
        "name": "Tea",
        "url": "/p3",
        "image": "/p3.jpg",
        "price": 1200,
        "currency": "JPY",
        "reason": "Trending now",
    },
]
CART = [
    {"item_id": "c1", "name": "Cart <item>", "image": "", "price": 3.0, "currency": "USD"},
    {"item_id": "c2", "name": "Mug", "image": "/c2.jpg", "price": None, "currency": None},
]
COUNTDOWNS = [None, CountdownView(None, 15, "15:00"), CountdownView(1767225600000, None, "1:02:03")]
OVERRIDES: list[dict[str, Any]] = [
    {},
    {"content": {"locale": "he", "text": "<script>x</script>", "image": "https://i.example/a.png"}},
    {"content": {"locale": "fr", "products_title": "Pour <vous>", "text": ""}},
    {"content": {"button_text": "", "direction": "rtl"}},
]


def content_of(preset: str, overrides: dict[str, Any]) -> tuple[Rule, Content]:
    raw = from_preset(preset, overrides)
    raw.pop("preset")
    rule = check_rule(raw)
    assert isinstance(rule, Rule), rule
    return rule, rule.content


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_frames_and_blocks_make_the_whole_template(preset: str) -> None:
    compared = 0
    for overrides in OVERRIDES:
        rule, content = content_of(preset, overrides)
        strips = [(), PRODUCTS] if content.products is not None else [()]
        for coupon, countdown, products, cart, rec in itertools.product(
            [None, "CODE<1>"], COUNTDOWNS, strips, [(), CART], [None, "r1"]
        ):
            kwargs: dict[str, Any] = dict(
                popup_id="rule-1",
                template=rule.template,
                variant="b",
                content=content,
                coupon=coupon,
                countdown=countdown,
                products=products,
                rec_id=rec,
                strategy="similar" if rec else None,
                cart=cart,
            )
            assert render_popup(**kwargs) == render_whole(**kwargs)
            compared += 1
    assert compared >= 4 * 24


def test_an_edited_rule_gets_its_own_frame() -> None:
    rule, before = content_of("flash_promo", {})
    _, after = content_of("flash_promo", {"content": {"headline": "Now 20% off"}})
    first, _ = render_popup(popup_id="r", template=rule.template, variant="a", content=before)
    second, _ = render_popup(popup_id="r", template=rule.template, variant="a", content=after)
    assert "Flash deal: 10% off" in first and "Flash deal" not in second
    assert "Now 20% off" in second
    # and the variant is part of the frame
    other, _ = render_popup(popup_id="r", template=rule.template, variant="b", content=before)
    assert 'data-tarry-variant="b"' in other and 'data-tarry-variant="a"' in first


def test_merchant_text_cannot_pass_for_a_block_marker() -> None:
    marker = "<!--tarry-slot:coupon-->"
    rule, content = content_of("flash_promo", {"content": {"headline": marker, "text": marker}})
    kwargs: dict[str, Any] = dict(
        popup_id="r", template=rule.template, variant="a", content=content, coupon="SAVE"
    )
    html, _ = render_popup(**kwargs)
    assert html == render_whole(**kwargs)[0]
    assert marker not in html and html.count("SAVE") == 1


def test_the_frame_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "FRAMES_HELD", 8)
    monkeypatch.setattr(render, "_frames", {})
    rule, content = content_of("flash_promo", {})
    for n in range(20):
        render_popup(popup_id=f"r{n}", template=rule.template, variant="a", content=content)
    assert len(render._frames) == 8
    held = {key[0] for key in render._frames}
    assert held == {f"r{n}" for n in range(12, 20)}  # the newest stay
