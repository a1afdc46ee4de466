"""Ready-made rules for the classic retention popups. A merchant switches one on
with `{"preset": "dont_go"}` and edits only the texts; any field given next to the
preset name replaces the preset's (objects are merged field by field)."""

from __future__ import annotations

import copy
from typing import Any

from widget_server.popups.schema import merge_fields

PRESETS: dict[str, dict[str, Any]] = {
    # Exit intent on the home page: the visitor is about to leave without having
    # found anything, so show them something they may like.
    "dont_go": {
        "name": "Don't go",
        "template": "dont_go",
        "priority": 10,
        "trigger": {"type": "exit_intent", "sensitivity_px": 20, "min_seconds": 3},
        "targeting": {"page_types": ["home"]},
        "frequency": {"max_per_session": 1, "max_per_visitor": 2, "per_days": 7},
        "content": {
            "headline": "Before you go…",
            "text": "A few picks we think you will like.",
            "button_text": "Keep shopping",
            "products": {"strategy": "recommended", "count": 4},
            "products_title": "Picked for you",
        },
    },
    # A product page, after a moment of interest: a short-lived code.
    "flash_promo": {
        "name": "Flash promo",
        "template": "flash_promo",
        "priority": 5,
        "trigger": {"type": "time_on_page", "seconds": 8},
        "targeting": {"page_types": ["product"]},
        "frequency": {"max_per_session": 1, "max_per_visitor": 1, "per_days": 7},
        "content": {
            "headline": "Flash deal: 10% off",
            "text": "Use this code at checkout before the timer runs out.",
            "coupon": {"code": "FLASH10"},
            "countdown": {"minutes": 15},
            "button_text": "Shop now",
        },
    },
    # Leaving a full cart: remind them what is in it, with a reason to finish.
    "last_chance": {
        "name": "Last chance",
        "template": "last_chance",
        "priority": 20,
        "trigger": {"type": "exit_intent", "sensitivity_px": 20, "min_seconds": 2},
        "targeting": {"page_types": ["cart"], "cart": "non_empty"},
        "frequency": {"max_per_session": 1, "max_per_visitor": 2, "per_days": 3},
        "content": {
            "headline": "Your cart is waiting",
            "text": "Complete your order now and save 5% with this code.",
            "coupon": {"code": "CART5"},
            "show_cart": True,
            "button_text": "Complete my order",
            "button_url": "/checkout",
        },
    },
    # Right after a purchase: a reason to come back.
    "next_order": {
        "name": "Next order",
        "template": "announcement",
        "priority": 0,
        "trigger": {"type": "page_load"},
        "targeting": {"page_types": ["thank_you"]},
        "frequency": {
            "max_per_session": 1,
            "max_per_visitor": 1,
            "per_days": 30,
            "stop_after_purchase": False,
        },
        "content": {
            "headline": "Thank you! 15% off your next order",
            "text": "Your code is valid for 30 days.",
            "coupon": {"code": "NEXT15"},
            "button_text": "Got it",
        },
    },
    # A visitor back after a week or more: pick up where they left off.
    "welcome_back": {
        "name": "Welcome back",
        "template": "announcement",
        "priority": 0,
        "trigger": {"type": "page_load"},
        "targeting": {"visitor": "returning", "days_since_last_visit_min": 7},
        "frequency": {"max_per_session": 1, "max_per_visitor": 1, "per_days": 7},
        "content": {
            "headline": "Welcome back!",
            "text": "Here is what you were looking at last time.",
            "products": {"strategy": "recently_viewed", "count": 4},
            "button_text": "Continue shopping",
        },
    },
    # About to leave, anywhere: a game that trades a discount for an e-mail address.
    # The server draws the prize when the address arrives; each prize's codes come
    # from its own pool (upload them with POST /v1/admin/coupons/POOL: a prize whose
    # pool is empty is never drawn, and the wheel waits until some pool has codes).
    "spin_to_win": {
        "name": "Spin to win",
        "template": "spin_to_win",
        "priority": 15,
        "trigger": {"type": "exit_intent", "sensitivity_px": 20, "min_seconds": 3},
        "frequency": {"max_per_session": 1, "max_per_visitor": 1, "per_days": 30},
        "content": {
            "headline": "Wait! Spin to win a discount",
            "text": "Enter your e-mail address and spin the wheel.",
            "button_text": "Spin the wheel",
            "segments": [
                {"label": "5% off", "weight": 30, "pool": "spin-5"},
                {"label": "No luck this time", "weight": 10},
                {"label": "10% off", "weight": 20, "pool": "spin-10"},
                {"label": "Free shipping", "weight": 15, "pool": "spin-shipping"},
                {"label": "15% off", "weight": 10, "pool": "spin-15"},
                {"label": "So close!", "weight": 10},
                {"label": "20% off", "weight": 4, "pool": "spin-20"},
                {"label": "25% off", "weight": 1, "pool": "spin-25"},
            ],
        },
    },
}


def from_preset(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The preset's rule with `overrides` merged in. KeyError for an unknown name."""
    rule = copy.deepcopy(PRESETS[name])
    rule["preset"] = name
    return merge_fields(rule, overrides)
