"""What the server's background loops (archiving, retraining) share."""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise CancelledError if the running task has been asked to stop. A loop that
    logs an error and carries on calls this first: a cancellation that arrives in
    the middle of a Redis command may come out of redis-py as another error, and the
    loop would then sleep on, for an hour, with the server waiting on it to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def pause(seconds: float) -> None:
    """The loops' wait between passes: none for a task asked to stop. A cancel can
    also be swallowed whole by a library mid-command (the pass then ends as if
    nothing happened); the request stays on the task, so it is seen here."""
    raise_if_cancelled()
    await asyncio.sleep(seconds)
