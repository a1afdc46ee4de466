"""The merchant's API (secret key): popup rules, presets, settings, coupons, the catalog."""
