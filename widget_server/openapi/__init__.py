"""GET /openapi.json: the API described, from the code that serves it."""
