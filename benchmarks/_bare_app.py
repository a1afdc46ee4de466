"""The baseline of benchmarks/collect.py: the least a Starlette app can do per request.

Run as `python benchmarks/_bare_app.py PORT`; served the way `tarry serve` serves
Tarry (uvicorn, one worker, uvloop and httptools when installed, no access log).
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def plain_text(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def ready(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ready")


app = Starlette(routes=[Route("/", plain_text), Route("/readyz", ready)])

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=False,
        log_level="warning",
        server_header=False,
    )
