"""Lift as one plain sentence, and how many more sessions an answer needs.

The verdict itself is `analytics.lift`'s (the pooled z-test at 5%, and its
minimum data); this module only says it in words. The effect is written relative
to the held-out group ("bought 12% more often"), with a 95% interval for that
ratio: Katz's log interval for a risk ratio, since the relative figure is the one
the sentence names (where either group has no conversion, the interval of the
difference in percentage points instead). "About N more sessions" is the sample a
two-proportion z-test needs to detect the observed difference with 80% power at 5%
significance (two-sided), for the observed split between shown and held out;
when no difference has been seen yet, it is the sample for a 10% lift.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist
from typing import Literal

from markupsafe import Markup

from widget_server.analytics import lift
from widget_server.analytics.lift import LiftReport
from widget_server.dashboard import formatting
from widget_server.dashboard.language import Language

POWER = 0.80
ASSUMED_LIFT = 0.10  # relative effect to plan for when none has been observed
_Z_ALPHA = NormalDist().inv_cdf(1 - lift.SIGNIFICANCE / 2)
_Z_POWER = NormalDist().inv_cdf(POWER)

Tone = Literal["good", "bad", "neutral", "pending"]

FOOTNOTE = (
    "Lift compares sessions shown it with sessions held out from it, at random. "
    "“About N more sessions” is the sample a two-proportion z-test needs to detect the "
    "difference seen so far with 80% power at 5% significance, for the share held "
    "out; before any difference is seen, it is the sample for a 10% lift. The "
    "interval is Katz's 95% interval of the ratio of the two conversion rates."
)


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    text: Markup
    tone: Tone
    more_sessions: int | None = None


def sample_size(p_shown: float, p_held: float, ratio: float) -> tuple[float, float]:
    """Sessions (shown, held out) a pooled two-proportion z-test needs to detect
    p_shown against p_held with `POWER` at the 5% level, `ratio` shown sessions per
    held-out one (Fleiss' formula, no continuity correction). Infinite when the
    rates are equal."""
    delta = abs(p_shown - p_held)
    if delta == 0:
        return math.inf, math.inf
    pooled = (ratio * p_shown + p_held) / (ratio + 1)
    null = _Z_ALPHA * math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio))
    alternative = _Z_POWER * math.sqrt(p_shown * (1 - p_shown) / ratio + p_held * (1 - p_held))
    held = (null + alternative) ** 2 / delta**2
    return ratio * held, held


def sessions_needed(report: LiftReport, holdout_percent: float) -> int | None:
    """How many more sessions (shown and held out together, arriving in the split
    seen so far, else the rule's) until the test can answer; None when there is
    nothing to plan from (no conversion anywhere yet, or no holdout)."""
    shown, held = report["treatment"], report["holdout"]
    n1, n2 = shown["sessions"], held["sessions"]
    x1, x2 = shown["conversions"], held["conversions"]
    if n1 and n2:
        ratio = n1 / n2
    elif 0 < holdout_percent < 100:
        ratio = (100 - holdout_percent) / holdout_percent
    else:
        return None
    if n1 + n2 == 0 or x1 + x2 == 0:
        return None
    p1 = x1 / n1 if n1 else None
    p2 = x2 / n2 if n2 else None
    if p1 is None or p2 is None or p1 == p2:
        # Nothing to go on but the pooled rate: plan for a 10% lift on it.
        base = (x1 + x2) / (n1 + n2)
        p1, p2 = min(base * (1 + ASSUMED_LIFT), 1.0), base
    need1, need2 = sample_size(p1, p2, ratio)
    need1, need2 = max(need1, lift.MIN_SESSIONS), max(need2, lift.MIN_SESSIONS)
    # Sessions arrive split by the ratio: enough for the group that lags most.
    more = max((need1 - n1) * (1 + ratio) / ratio, (need2 - n2) * (1 + ratio), 0.0)
    if math.isinf(more):
        return None
    return _round_up(more)


def _round_up(n: float) -> int:
    """Two significant figures, rounded up: an estimate should not look exact."""
    if n <= 0:
        return 0
    scale = 10 ** max(0, math.floor(math.log10(n)) - 1)
    return int(math.ceil(n / scale) * scale)


def relative_interval(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float] | None:
    """95% interval of p1 / p2 - 1 (Katz's log method); None without a conversion in
    each group."""
    if not (x1 and x2 and n1 and n2):
        return None
    ratio = (x1 / n1) / (x2 / n2)
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    z = _Z_ALPHA
    return math.exp(math.log(ratio) - z * se) - 1, math.exp(math.log(ratio) + z * se) - 1


def verdict(report: LiftReport, language: Language, holdout_percent: float) -> Verdict:
    _ = language.translate
    shown, held = report["treatment"], report["holdout"]
    if held["sessions"] == 0 and holdout_percent == 0:
        return Verdict(
            _("No holdout, so no lift: hold it back from some visitors to measure it."),
            "neutral",
        )
    if report["verdict"] == lift.NOT_ENOUGH_DATA:
        more = sessions_needed(report, holdout_percent)
        if more is None:
            return Verdict(_("Not enough data yet: no purchases after it so far."), "pending")
        return Verdict(
            _(
                "Not enough data yet: about {sessions} more sessions needed.",
                sessions=formatting.number(more),
            ),
            "pending",
            more,
        )
    relative = report["relative_difference"]
    interval = relative_interval(
        shown["conversions"], shown["sessions"], held["conversions"], held["sessions"]
    )
    if relative is None or interval is None:
        return _in_points(report, language)
    size = formatting.percent(abs(relative), 0)
    low, high = (formatting.percent(bound, 0) for bound in interval)
    if report["verdict"] == lift.LIFTS:
        text = _(
            "Shoppers who saw it bought {size} more often; we are 95% sure the effect "
            "is between {low} and {high}.",
            size=size, low=low, high=high,
        )  # fmt: skip
        return Verdict(text, "good")
    if report["verdict"] == lift.LOWERS:
        text = _(
            "Shoppers who saw it bought {size} less often; we are 95% sure the effect "
            "is between {low} and {high}.",
            size=size, low=low, high=high,
        )  # fmt: skip
        return Verdict(text, "bad")
    more = sessions_needed(report, holdout_percent)
    if relative >= 0:
        said = _(
            "No clear difference yet: shoppers who saw it bought {size} more often, but "
            "the effect could be anywhere between {low} and {high}.",
            size=size, low=low, high=high,
        )  # fmt: skip
    else:
        said = _(
            "No clear difference yet: shoppers who saw it bought {size} less often, but "
            "the effect could be anywhere between {low} and {high}.",
            size=size, low=low, high=high,
        )  # fmt: skip
    if more:
        said += Markup(" ") + _(
            "About {sessions} more sessions would tell an effect of this size apart.",
            sessions=formatting.number(more),
        )
    return Verdict(said, "neutral", more)


def _in_points(report: LiftReport, language: Language) -> Verdict:
    """The verdict with the difference in percentage points: what is left to say
    when a group has no conversion, so that no ratio exists."""
    _ = language.translate
    shown, held = report["treatment"], report["holdout"]
    ci = report["ci95"] or [0.0, 0.0]
    values = {
        "shown": formatting.percent(shown["rate"]),
        "held": formatting.percent(held["rate"]),
        "low": formatting.points(ci[0]),
        "high": formatting.points(ci[1]),
    }
    tone: Tone = {lift.LIFTS: "good", lift.LOWERS: "bad"}.get(report["verdict"], "neutral")  # type: ignore[assignment]
    head = {
        lift.LIFTS: _("It lifts conversion."),
        lift.LOWERS: _("It lowers conversion."),
    }.get(report["verdict"], _("No clear difference yet."))
    body = _(
        "Sessions that saw it bought in {shown} of cases, those held out in {held}; "
        "we are 95% sure the difference is between {low} and {high}.",
        **values,
    )
    return Verdict(head + Markup(" ") + body, tone)
