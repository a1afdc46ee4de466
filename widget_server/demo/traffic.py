"""A store's day of sessions in the shape `POST /v1/collect` takes, with ids as the
snippet makes them: the traffic whose Redis cost `tests/collect/test_storage_cost.py`
checks and `benchmarks/stats.py` measures, kept in one place so both measure the
same thing."""

from __future__ import annotations

import base64
import random
from typing import Any


def snippet_id(rng: random.Random) -> str:
    """An id as the snippet's `rid()` makes it: 16 random bytes, URL-safe base64
    without padding, 22 characters."""
    return base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode()


def a_day_of_sessions(
    sessions: int, day_start: int, rng: random.Random
) -> list[list[dict[str, Any]]]:
    """A store's day: sessions from seven kinds of source landing on product pages,
    more page views, product views, carts, checkouts and orders (by customers whose
    shop sends their e-mail address as `uid`), each ending with its engagement; one
    request a session. Event, visitor
    and session ids as the snippet makes them; visitors drawn from two thirds as
    many as there are sessions, so that some come back."""
    sources: list[tuple[dict[str, str], str | None]] = [
        ({}, None), ({}, "https://www.google.com/"), ({}, "https://facebook.com/"),
        ({"utm_medium": "email", "utm_source": "news"}, None), ({"gclid": "x"}, None),
        ({}, "https://blog.example/"), ({"utm_medium": "display", "utm_source": "ads"}, None),
    ]  # fmt: skip
    batches = []
    visitors = [snippet_id(rng) for _ in range(sessions * 2 // 3)]
    for n in range(sessions):
        t = day_start + int(rng.betavariate(2.5, 2) * 86_000_000)
        vid, sid = rng.choice(visitors), snippet_id(rng)
        query, ref = rng.choice(sources)
        path = f"/products/p{min(int(rng.paretovariate(1.2)), 40)}"
        tail = "&".join(f"{k}={v}" for k, v in query.items())
        events: list[dict[str, Any]] = [
            {"type": "page_view", "url": f"https://shop.example{path}?{tail}",
             "page_type": "product", **({"ref": ref} if ref else {})}
        ]  # fmt: skip
        events += [{"type": "page_view", "url": "https://shop.example/c"}] * rng.choice([0, 1, 3])
        if rng.random() < 0.5:
            events.append({"type": "view_item", "items": [{"item_id": f"i{rng.randrange(500)}"}]})
            if rng.random() < 0.3:
                events.append({"type": "add_to_cart", "items": [{"item_id": "i1"}]})
                if rng.random() < 0.4:
                    events.append({"type": "begin_checkout"})
                    events.append({"type": "purchase", "value": 30.0, "transaction_id": f"T{n}",
                                   "uid": f"customer{n}@mail.example"})  # fmt: skip
        events.append({"type": "engagement", "engaged_ms": rng.randrange(1000, 60000)})
        batch = []
        for e in events:
            batch.append({"id": snippet_id(rng), "ts": t, "vid": vid, "sid": sid, **e})
            t += 20_000
        batches.append(batch)
    return batches
