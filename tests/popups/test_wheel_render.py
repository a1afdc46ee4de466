"""The spin-to-win preset and rules, and the wheel as the server draws it: where
each turn stops, which link applies a code, what the prize's markup says."""

from __future__ import annotations

import math
import re

import pytest

from widget_server.popups.presets import from_preset
from widget_server.popups.render import (
    RADIUS,
    apply_link,
    ink_for,
    render_popup,
    render_prize,
    turn_degrees,
    wheel_slices,
)
from widget_server.popups.schema import Colors, Content, Rule, check_rule

SIX = [{"label": f"{n * 5}% off", "weight": 1, "pool": f"p{n}"} for n in range(6)]


def spin_rule(**content: object) -> dict[str, object]:
    return {
        "name": "Wheel",
        "template": "spin_to_win",
        "trigger": {"type": "exit_intent"},
        "content": {"headline": "Spin", "segments": SIX, **content},
    }


def test_the_preset_is_a_valid_wheel_on_exit_intent_anywhere() -> None:
    rule = check_rule(from_preset("spin_to_win", {}))
    assert isinstance(rule, Rule), rule
    assert rule.trigger.type == "exit_intent" and rule.targeting.page_types is None
    segments = rule.content.segments
    assert segments is not None and 6 <= len(segments) <= 12
    assert any(not s.is_prize for s in segments) and all(s.weight > 0 for s in segments)
    pools = [s.pool for s in segments if s.pool]
    assert len(pools) == len(set(pools))  # each prize its own pool
    assert rule.content.coupon is None


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ({**spin_rule(), "content": {"headline": "Spin"}}, "content.segments", "needs 6-12"),
        (spin_rule(segments=SIX[:5]), "content.segments", "at least 6"),
        (spin_rule(segments=SIX * 3), "content.segments", "at most 12"),
        (spin_rule(coupon={"code": "X"}), "content.coupon", "come from its segments"),
        (spin_rule(apply_url="/cart"), "content.apply_url", "must contain {code}"),
        (spin_rule(apply_url="javascript:{code}"), "content.apply_url", "http(s) URL or a path"),
        (
            spin_rule(segments=[{**SIX[0], "code": "BOTH"}, *SIX[1:]]),
            "content.segments[0].code",
            "at most one of code and pool",
        ),
        (
            spin_rule(segments=[{**SIX[0], "weight": 0}, *SIX[1:]]),
            "content.segments[0].weight",
            "greater than 0",
        ),
        (
            spin_rule(segments=[{**SIX[0], "color": "red"}, *SIX[1:]]),
            "content.segments[0].color",
            "hex colour",
        ),
        (
            {**spin_rule(), "template": "announcement"},
            "content.segments",
            "only a spin_to_win popup has a wheel",
        ),
        (
            {**spin_rule(), "variants": [{"id": "b", "content": {"segments": None}}]},
            "variants[0].content.segments",
            "needs 6-12",
        ),
    ],
)
def test_a_bad_wheel_is_refused_naming_the_field(
    rule: dict[str, object], field: str, message: str
) -> None:
    problems = check_rule(rule)
    assert isinstance(problems, list), problems
    assert any(p["field"] == field and message in p["error"] for p in problems), problems


@pytest.mark.parametrize("count", [6, 7, 8, 9, 10, 11, 12])
def test_every_turn_stops_inside_its_slice(count: int) -> None:
    """The slice under the pointer after turning the wheel clockwise by `turn`
    degrees is the one whose span holds 360 - turn (mod 360)."""
    width = 360 / count
    for segment in range(count):
        for jitter in (-1.0, -0.5, 0.0, 0.5, 1.0, None):
            turn = turn_degrees(segment, count, jitter)
            assert turn >= 360 * 5  # a spin, not a nudge
            at_pointer = (360 - turn % 360) % 360
            assert int(at_pointer // width) == segment, (segment, jitter, turn)
            # At least 10% of the slice's width from its edges: never on a line.
            into = at_pointer - segment * width
            assert 0.1 * width - 0.01 <= into <= 0.9 * width + 0.01


def test_slices_tile_the_circle_and_labels_face_their_slice() -> None:
    content = Content.model_validate({"headline": "x", "segments": SIX})
    assert content.segments is not None
    slices = wheel_slices(content.segments, content.colors)
    assert len(slices) == 6
    for n, piece in enumerate(slices):
        numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", piece.path)]
        # M0 0 L start A r r 0 0 1 end Z
        start, end = numbers[2:4], numbers[9:11]
        assert numbers[4] == numbers[5] == RADIUS
        assert abs((start[0] ** 2 + start[1] ** 2) ** 0.5 - RADIUS) < 0.05
        expected_mid = n * 60 + 30
        # A label along its slice's middle: its point (x, 0) turned by `rotate` lies
        # at the slice's middle angle (clockwise from the top), halfway out.
        turned = math.radians(piece.rotate)
        x, y = piece.x * math.cos(turned), piece.x * math.sin(turned)
        angle = math.degrees(math.atan2(x, -y)) % 360
        assert abs(angle - expected_mid) < 1e-6 and abs(math.hypot(x, y) - 55) < 1e-6
        assert (piece.x < 0) == (expected_mid > 180)  # upright on the left half
        if n == 0:
            assert start == [0.0, -RADIUS]  # the first slice starts under the pointer
        assert abs((end[0] ** 2 + end[1] ** 2) ** 0.5 - RADIUS) < 0.05
    # Neighbours differ, also the last and the first.
    fills = [s.fill for s in slices]
    assert all(fills[n] != fills[(n + 1) % 6] for n in range(6))
    odd = wheel_slices(content.segments[:6] + content.segments[:1], Colors())
    assert odd[-1].fill != odd[0].fill


@pytest.mark.parametrize(
    ("fill", "ink"),
    [("#ffffff", "#1f2328"), ("#d1242f", "#ffffff"), ("#000", "#ffffff"), ("#ffd33d", "#1f2328")],
)
def test_labels_take_the_more_readable_ink(fill: str, ink: str) -> None:
    assert ink_for(fill) == ink


def test_the_apply_link_is_shopifys_on_shopify_the_rules_own_else_none() -> None:
    plain = Content(headline="x")
    assert apply_link(plain, "SPIN-10", "shopify") == "/discount/SPIN-10?redirect=/cart"
    assert apply_link(plain, "A B/&?", "shopify") == "/discount/A%20B%2F%26%3F?redirect=/cart"
    assert apply_link(plain, "SPIN-10", "woocommerce") is None
    assert apply_link(plain, "SPIN-10", "other") is None
    own = Content(headline="x", apply_url="/cart/?coupon_code={code}")
    assert apply_link(own, "SPIN 10", "magento") == "/cart/?coupon_code=SPIN%2010"
    assert apply_link(own, "SPIN-10", "shopify") == "/cart/?coupon_code=SPIN-10"


def test_the_prize_markup_escapes_and_says_what_was_won() -> None:
    content = Content(headline="x", prize_label="<b>You won</b>", apply_label="Use it")
    won = render_prize(content, "10% <off>", "C<1>", "/discount/C%3C1%3E?redirect=/cart")
    assert "&lt;b&gt;You won&lt;/b&gt;" in won and "10% &lt;off&gt;" in won
    assert '<code class="tarry-code" data-tarry-code>C&lt;1&gt;</code>' in won
    assert 'href="/discount/C%3C1%3E?redirect=/cart"' in won and "data-tarry-copy" in won
    lost = render_prize(content, "No luck", None, None)
    assert "No luck" in lost and "data-tarry-code" not in lost and "You won" not in lost
    copy_only = render_prize(content, "5% off", "FIVE", None)
    assert "data-tarry-copy" in copy_only and "href" not in copy_only


def test_the_wheel_popup_holds_no_code_and_labels_its_wheel() -> None:
    rule = check_rule(
        spin_rule(segments=[{**s, "pool": None, "code": f"SECRET{n}"} for n, s in enumerate(SIX)])
    )
    assert isinstance(rule, Rule), rule
    html, css = render_popup(
        popup_id="r_1", template="spin_to_win", variant="default", content=rule.content
    )
    assert "SECRET" not in html  # the prize is drawn when the address arrives
    assert 'role="img"' in html and 'aria-label="0% off, 5% off, 10% off' in html
    assert html.count("<path ") == 6 and "data-tarry-email" in html
    assert 'role="status"' in html and "data-tarry-reveal" in html
    assert "--tarry-turn" in css and "prefers-reduced-motion:no-preference" in css
    # The spin is only in the motion-allowed block.
    plain = css.replace(css[css.index("@media (prefers-reduced-motion:no-preference)") :], "")
    assert "transition" not in plain


def test_a_persian_wheel_is_right_to_left_with_its_labels() -> None:
    segments = [{**s, "label": f"{n + 1}٠٪ تخفیف"} for n, s in enumerate(SIX)]  # noqa: RUF001
    rule = check_rule(spin_rule(locale="fa", segments=segments))
    assert isinstance(rule, Rule), rule
    html, _ = render_popup(
        popup_id="r_1", template="spin_to_win", variant="default", content=rule.content
    )
    assert 'dir="rtl"' in html and 'lang="fa"' in html
    assert html.count("تخفیف</text>") == 6
