"""The spin-to-win draw (`popups/wheel.py`) on real Redis: the weights over 100,000
draws, empty pools, two servers racing, one prize per visitor for good."""

from __future__ import annotations

import asyncio
import collections
import json
from pathlib import Path

import pytest
from helpers import make_store
from scipy import stats

from widget_server.popups.coupons import Coupons
from widget_server.popups.schema import Segment
from widget_server.popups.wheel import Prize, Wheel
from widget_server.settings import Settings
from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis, open_storage, run_with_storage

RULE = "r_wheel"
NOW = 1_767_225_600_000


def wheel(*slices: tuple[float, str | None, str | None]) -> list[Segment]:
    """Segments from (weight, pool, code), labelled by position."""
    return [
        Segment(label=f"slice {n}", weight=weight, pool=pool, code=code)
        for n, (weight, pool, code) in enumerate(slices)
    ]


def with_redis(settings: Settings, work: object) -> object:
    return run_with_storage(settings, work)  # type: ignore[arg-type]


async def fill(redis: AsyncRedis, store_id: str, pool: str, count: int) -> list[str]:
    codes = [f"{pool.upper()}-{n:06d}" for n in range(count)]
    await Coupons(redis).add(store_id, pool, codes)
    return codes


@pytest.fixture
def standalone(standalone_url: str, tmp_path: Path) -> Settings:
    """100,000 draws are about a storage kind's speed, not its kind: one is enough."""
    return Settings.from_env({"TARRY_REDIS_URL": standalone_url, "TARRY_DATA_DIR": str(tmp_path)})


def test_prizes_follow_the_weights_over_100k_draws(standalone: Settings) -> None:
    """Pearson's chi-square of the slices drawn for 100,000 visitors against the
    weights: with 7 degrees of freedom the statistic stays under 24.32 (its 99.9%
    quantile) unless the draw is biased; a fair draw fails this once in 1,000 runs.
    Every pool holds more codes than it could plausibly give, so none runs dry."""
    store, _ = make_store(standalone)
    weights = [30, 10, 20, 15, 10, 10, 4, 1]
    segments = wheel(
        (30, "five", None), (10, None, None), (20, "ten", None), (15, None, "SHIPFREE"),
        (10, "fifteen", None), (10, None, None), (4, "twenty", None), (1, "jackpot", None),
    )  # fmt: skip
    draws = 100_000

    async def spin_all(redis: AsyncRedis) -> list[Prize]:
        for segment, weight in zip(segments, weights, strict=True):
            if segment.pool:  # expected count + 10 standard deviations
                await fill(redis, store.id, segment.pool, draws * weight // 100 + 2_000)
        spinner = Wheel(redis)
        prizes: list[Prize] = []
        for start in range(0, draws, 1000):
            prizes += await asyncio.gather(
                *(
                    spinner.spin(store.id, RULE, segments, f"v{n}", NOW)
                    for n in range(start, start + 1000)
                )
            )  # type: ignore[arg-type]
        return prizes

    prizes: list[Prize] = with_redis(standalone, spin_all)  # type: ignore[assignment]
    assert len(prizes) == draws and all(p is not None for p in prizes)
    counts = collections.Counter(p.segment for p in prizes)
    observed = [counts[n] for n in range(len(weights))]
    expected = [draws * w / sum(weights) for w in weights]
    statistic, p_value = stats.chisquare(observed, expected)
    critical = stats.chi2.ppf(0.999, df=len(weights) - 1)
    assert round(critical, 2) == 24.32
    assert statistic < critical, (observed, expected, statistic, p_value)
    # Each prize carries its slice's code: a pool's own, the shared one, none.
    for prize in prizes[:2000]:
        segment = segments[prize.segment]
        assert prize.label == segment.label
        if segment.pool:
            assert prize.code is not None and prize.code.startswith(segment.pool.upper() + "-")
        else:
            assert prize.code == segment.code
    codes = [p.code for p in prizes if p.code and p.code != "SHIPFREE"]
    assert len(codes) == len(set(codes))  # no pool code given twice


def test_an_empty_pools_prize_is_never_drawn(settings: Settings) -> None:
    """The heaviest slice's pool is empty: 500 draws never land there. A pool with
    three codes gives exactly three prizes, then its slice is never drawn again."""
    store, _ = make_store(settings)
    segments = wheel((1000, "empty", None), (1, "small", None), (1, None, None))

    async def run(redis: AsyncRedis) -> list[Prize | None]:
        await fill(redis, store.id, "small", 3)
        spinner = Wheel(redis)
        return list(
            await asyncio.gather(
                *(spinner.spin(store.id, RULE, segments, f"v{n}", NOW) for n in range(500))
            )
        )

    prizes: list[Prize | None] = with_redis(settings, run)  # type: ignore[assignment]
    drawn = collections.Counter(p.segment for p in prizes if p is not None)
    assert drawn[0] == 0
    assert drawn[1] == 3 and drawn[2] == 497


def test_a_wheel_whose_pools_are_all_empty_gives_nothing_and_is_not_offered(
    settings: Settings,
) -> None:
    store, _ = make_store(settings)
    prizes = wheel(*((1, f"p{n}", None) for n in range(6)))
    with_no_luck = wheel(*((1, f"p{n}", None) for n in range(5)), (1, None, None))
    shared = wheel(*((1, f"p{n}", None) for n in range(5)), (1, None, "FOR-ALL"))

    async def run(redis: AsyncRedis) -> tuple[object, ...]:
        spinner = Wheel(redis)
        return (
            await spinner.spin(store.id, RULE, prizes, "v1", NOW),
            await spinner.can_pay_out(store.id, prizes),
            await spinner.can_pay_out(store.id, with_no_luck),
            await spinner.can_pay_out(store.id, shared),
            await spinner.spin(store.id, "r_other", with_no_luck, "v1", NOW),
            await fill(redis, store.id, "p3", 1) and await spinner.can_pay_out(store.id, prizes),
        )

    nothing, payable, no_luck_only, shared_code, no_luck, refilled = with_redis(settings, run)  # type: ignore[misc]
    assert nothing is None and payable is False
    assert no_luck_only is False  # only "no luck" left: the wheel is not offered
    assert shared_code is True
    assert isinstance(no_luck, Prize) and no_luck.segment == 5 and no_luck.code is None
    assert refilled is True


def test_two_servers_racing_give_each_code_once(settings: Settings) -> None:
    """Two servers (two connection pools on the same Redis) spin for 600 visitors at
    once over three pools of 100 codes and a "no luck" slice; then each visitor asks
    the other server and gets the same prize."""
    store, _ = make_store(settings)
    segments = wheel((3, "a", None), (3, "b", None), (3, "c", None), (1, None, None))

    async def race() -> tuple[list[Prize | None], list[Prize | None], dict[str, int]]:
        first, second = await open_storage(settings), await open_storage(settings)
        try:
            for pool in "abc":
                await fill(first.client, store.id, pool, 100)
            spinners = [Wheel(first.client), Wheel(second.client)]
            given = await asyncio.gather(
                *(spinners[n % 2].spin(store.id, RULE, segments, f"v{n}", NOW) for n in range(600))
            )
            again = await asyncio.gather(
                *(
                    spinners[(n + 1) % 2].spin(store.id, RULE, segments, f"v{n}", NOW + 1)
                    for n in range(600)
                )
            )
            left = {p: await first.client.llen(keys.coupon_pool(store.id, p)) for p in "abc"}
            return list(given), list(again), left
        finally:
            await first.close()
            await second.close()

    given, again, left = asyncio.run(race())
    assert again == given
    codes = [p.code for p in given if p is not None and p.code is not None]
    assert len(codes) == len(set(codes))  # each code given once
    assert len(codes) == 300 and left == {"a": 0, "b": 0, "c": 0}  # every code went out
    assert all(p is not None for p in given)  # "no luck" is always there to draw
    assert sum(1 for p in given if p is not None and p.code is None) == 300


def test_the_same_visitor_gets_the_same_prize_twice(settings: Settings) -> None:
    """Asked again (with another random number, after the pool ran dry, after the
    merchant rearranged the wheel) the visitor gets back the prize they won."""
    store, _ = make_store(settings)
    segments = wheel((1, "a", None), (1, "b", None), (1, None, None))

    async def run(redis: AsyncRedis) -> list[Prize | None]:
        await fill(redis, store.id, "a", 1)
        await fill(redis, store.id, "b", 5)
        spinner = Wheel(redis)
        won = await spinner.spin(store.id, RULE, segments, "v1", NOW, chance=0.0)
        other = await spinner.spin(store.id, RULE, segments, "v2", NOW, chance=0.0)
        rearranged = list(reversed(segments))
        return [
            won,
            await spinner.spin(store.id, RULE, segments, "v1", NOW + 5, chance=0.99),
            await spinner.spin(store.id, RULE, rearranged, "v1", NOW + 9, chance=0.5),
            await spinner.won(store.id, RULE, "v1"),
            other,
        ]

    won, again, rearranged, stored, other = with_redis(settings, run)  # type: ignore[misc]
    assert won == Prize(0, "slice 0", "A-000000", NOW)
    assert again == rearranged == stored == won
    assert other is not None and other.segment == 1  # pool a ran dry: chance 0 lands on b


def test_a_visitor_who_holds_a_code_of_the_pool_keeps_it(settings: Settings) -> None:
    """The same pool in another popup gave this visitor a code: the wheel gives that
    one back rather than spending a second, even with the pool now empty."""
    store, _ = make_store(settings)
    segments = wheel(*((1, "shared", None) for _ in range(6)))

    async def run(redis: AsyncRedis) -> tuple[str | None, Prize | None, int]:
        await fill(redis, store.id, "shared", 1)
        held = await Coupons(redis).give(store.id, "shared", "v1")
        prize = await Wheel(redis).spin(store.id, RULE, segments, "v1", NOW)
        return held, prize, await redis.llen(keys.coupon_pool(store.id, "shared"))

    held, prize, left = with_redis(settings, run)  # type: ignore[misc]
    assert held == "SHARED-000000" and prize is not None and prize.code == held and left == 0


def test_the_chance_walks_the_open_slices_by_weight(settings: Settings) -> None:
    """A draw of u lands on the slice whose share of the open weight covers u: with
    weights 1, (empty), 2, 1 the boundaries are 1/4 and 3/4."""
    store, _ = make_store(settings)
    segments = wheel((1, None, "A"), (5, "dry", None), (2, None, "C"), (1, None, "D"))
    cases = {0.0: 0, 0.2499: 0, 0.25: 2, 0.7499: 2, 0.75: 3, 0.999999: 3}

    async def run(redis: AsyncRedis) -> dict[float, int]:
        spinner = Wheel(redis)
        out = {}
        for n, chance in enumerate(cases):
            prize = await spinner.spin(store.id, RULE, segments, f"v{n}", NOW, chance=chance)
            assert prize is not None
            out[chance] = prize.segment
        return out

    assert with_redis(settings, run) == cases


def test_the_prize_is_written_down_as_json(settings: Settings) -> None:
    store, _ = make_store(settings)
    segments = [Segment(label="۱۰٪ تخفیف", weight=1, code="DAH")] * 6  # noqa: RUF001

    async def run(redis: AsyncRedis) -> bytes:
        await Wheel(redis).spin(store.id, RULE, segments, "v1", NOW, chance=0.0)
        raw: bytes = await redis.hget(keys.wheel_prizes(store.id, RULE), "v1")
        return raw

    stored = json.loads(with_redis(settings, run))  # type: ignore[arg-type]
    assert stored == {"segment": 0, "label": "۱۰٪ تخفیف", "code": "DAH", "ts": NOW}  # noqa: RUF001
