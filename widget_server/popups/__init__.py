"""Retention popups: what a rule is (`schema`), ready-made rules (`presets`), where
rules live (`rulebook`), who may see which popup now (`eligibility`, `assignment`),
unique coupon codes (`coupons`) and the HTML a popup is shown with (`render`)."""
