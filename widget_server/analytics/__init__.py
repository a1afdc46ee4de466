"""The analyst's API (secret key): aggregates read back, attribution and lift."""
