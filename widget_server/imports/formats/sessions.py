"""Sessions for events that come without one: a visitor's session ends after 30
minutes without an event, as `tarry eval` and web analytics count them.

Read as a stream, this assumes each visitor's events come in time order, which
both usual layouts give: sorted by time, or grouped by visitor and then sorted by
time. In a file in no order, an event more than 30 minutes away from its visitor's
previous one starts a session of its own: more sessions than there were, never an
event in the wrong visitor's session.

A session's id is its visitor and its first event's time, so it does not depend on
what else the file holds before it (a later, longer export gives the same ids).
"""

from __future__ import annotations

from widget_server.imports.formats.values import as_id

SESSION_GAP_MS = 30 * 60_000  # recommender.interactions.SESSION_GAP_MS
# Visitors remembered before the idle ones are forgotten. Forgetting a visitor idle
# for longer than the gap changes nothing in either layout above: their next event
# starts a new session anyway (by time), or never comes (grouped by visitor).
_REMEMBERED = 50_000


class Sessions:
    def __init__(self, gap_ms: int = SESSION_GAP_MS) -> None:
        self._gap = gap_ms
        self._open: dict[str, tuple[str, int]] = {}  # visitor -> (session id, last ts)
        self._newest = 0
        self._limit = _REMEMBERED

    def session_of(self, visitor: str, ts: int) -> str:
        found = self._open.get(visitor)
        if found is not None and abs(ts - found[1]) <= self._gap:
            session = found[0]
            ts = max(ts, found[1])
        else:
            session = as_id("", f"{visitor}.{ts}")
            if len(self._open) >= self._limit:
                self._forget_idle()
        self._open[visitor] = (session, ts)
        self._newest = max(self._newest, ts)
        return session

    def _forget_idle(self) -> None:
        cutoff = self._newest - self._gap
        self._open = {v: seen for v, seen in self._open.items() if seen[1] >= cutoff}
        # As many visitors active at once as remembered: wait for twice as many
        # before looking again, so that looking stays rare.
        self._limit = max(_REMEMBERED, 2 * len(self._open))
