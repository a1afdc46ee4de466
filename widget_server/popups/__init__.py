"""Retention popups: the rule schema, presets, the rulebook, who sees which popup, coupons, HTML."""
