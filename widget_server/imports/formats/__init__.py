"""Readers of store exports (Shopify, order lines, Tarry CSV, GA4) as streams of events."""
