"""Tarry's web server: the snippet's endpoints, the admin and stats APIs, health."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tarry")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0"
