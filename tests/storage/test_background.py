"""The background loops' guard against a cancellation that a library turned into
another error."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from widget_server.storage.background import pause, raise_if_cancelled


def test_a_cancellation_turned_into_another_error_still_stops_the_loop() -> None:
    passes = 0

    async def library_call() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if passes > 1:
                raise  # so that a loop that did go round can still be stopped
            # What a client may do with a cancel mid-command: drop the connection
            # and raise its own error instead.
            raise ConnectionError("connection closed") from None

    async def loop() -> None:
        nonlocal passes
        while True:
            passes += 1
            try:
                await library_call()
            except Exception:
                raise_if_cancelled()
            await asyncio.sleep(0)

    async def main() -> None:
        task = asyncio.create_task(loop())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)

    asyncio.run(main())
    assert passes == 1  # stopped, not gone round again


def test_an_error_without_a_cancellation_lets_the_loop_go_on() -> None:
    async def main() -> int:
        rounds = 0
        for _ in range(3):
            try:
                raise ConnectionError("Redis went away")
            except Exception:
                raise_if_cancelled()
                rounds += 1
        return rounds

    assert asyncio.run(main()) == 3


def test_a_cancellation_swallowed_whole_still_stops_the_loop_at_its_pause() -> None:
    """A pass in which a library ate the CancelledError ends normally; the loop must
    not then sleep its hour."""
    passes = 0

    async def library_call() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # the cancel dropped, no error
            await asyncio.sleep(3600)

    async def loop() -> None:
        nonlocal passes
        while True:
            passes += 1
            await library_call()
            await pause(3600)

    async def main() -> None:
        task = asyncio.create_task(loop())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)

    asyncio.run(main())
    assert passes == 1
