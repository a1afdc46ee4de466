"""Tarry's web server: the snippet's endpoints, the admin and stats APIs, health."""
