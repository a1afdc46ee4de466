"""What a shopper sees: `GET /v1/decide` (popups and showcases), recommendations, e-mail capture."""
