"""Did showing a popup or a showcase change conversion? Treatment against holdout.

A store shows a popup (or showcase) to most visitors and holds it back from a random
few, who send `*_suppressed` instead. Comparing the two groups' conversion rates is
the only figure here that says what the widget *caused*; attributed revenue only
says what happened after it.

- The 95% interval of the difference is Newcombe's hybrid score interval (his
  method 10, from two Wilson intervals): unlike the plain Wald interval it keeps
  its coverage at the low conversion rates of online stores (1-3%) and never leaves
  [-1, 1].
- The p-value is the two-sided pooled two-proportion z-test. It and the interval
  are different procedures, so at the margin one may exclude 0 while the other does
  not reach 0.05; the verdict follows the p-value.
- Below `MIN_SESSIONS` sessions in either group, or `MIN_CONVERSIONS` conversions in
  both together, the normal approximation behind both is poor and a verdict would
  be noise: the answer is "not enough data yet".
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist
from typing import Annotated, Final, Literal, TypedDict

import msgspec

CONFIDENCE = 0.95
SIGNIFICANCE = 0.05
MIN_SESSIONS = 100  # per group
MIN_CONVERSIONS = 5  # both groups together

NOT_ENOUGH_DATA: Final = "not enough data yet"
LIFTS: Final = "lifts conversion"
LOWERS: Final = "lowers conversion"
NO_CLEAR_DIFFERENCE: Final = "no clear difference"

_Z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)  # 1.959963984540054

Verdict = Literal[
    "not enough data yet", "lifts conversion", "lowers conversion", "no clear difference"
]


class GroupOutcome(TypedDict):
    """Sessions of one group and how many of them converted."""

    sessions: int
    conversions: int
    rate: Annotated[float | None, msgspec.Meta(description="conversions / sessions")]


class LiftReport(TypedDict):
    """Sessions shown the widget (treatment) against sessions held out from it."""

    treatment: GroupOutcome
    holdout: GroupOutcome
    difference: Annotated[float | None, msgspec.Meta(description="treatment - holdout rate")]
    relative_difference: Annotated[
        float | None, msgspec.Meta(description="difference / holdout rate; null when that is 0")
    ]
    ci95: Annotated[
        Annotated[list[float], msgspec.Meta(min_length=2, max_length=2)] | None,
        msgspec.Meta(description="[low, high]: 95% interval of the difference (Newcombe's)"),
    ]
    p_value: Annotated[
        float | None, msgspec.Meta(description="two-sided, pooled two-proportion z-test")
    ]
    verdict: Verdict


@dataclasses.dataclass(frozen=True, slots=True)
class Group:
    sessions: int
    conversions: int

    @property
    def rate(self) -> float | None:
        return self.conversions / self.sessions if self.sessions else None


@dataclasses.dataclass(frozen=True, slots=True)
class Lift:
    treatment: Group
    holdout: Group
    difference: float | None  # treatment rate - holdout rate
    relative_difference: float | None  # difference / holdout rate; None when that is 0
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: Verdict

    def to_json(self) -> LiftReport:
        def group(g: Group) -> GroupOutcome:
            return {"sessions": g.sessions, "conversions": g.conversions, "rate": g.rate}

        return {
            "treatment": group(self.treatment),
            "holdout": group(self.holdout),
            "difference": self.difference,
            "relative_difference": self.relative_difference,
            "ci95": None
            if self.ci_low is None or self.ci_high is None
            else [
                self.ci_low,
                self.ci_high,
            ],
            "p_value": self.p_value,
            "verdict": self.verdict,
        }


def wilson_interval(conversions: int, sessions: int, z: float = _Z) -> tuple[float, float]:
    """Wilson's score interval for one proportion."""
    p = conversions / sessions
    scale = 1 + z * z / sessions
    center = (p + z * z / (2 * sessions)) / scale
    half = z * math.sqrt(p * (1 - p) / sessions + z * z / (4 * sessions * sessions)) / scale
    return max(0.0, center - half), min(1.0, center + half)


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, z: float = _Z) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (method 10 of his 1998 paper)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    return (
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled z-test of p1 = p2. With no conversions (or
    only conversions) in both groups the difference is 0 and so is the evidence: 1."""
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def compare(treatment: Group, holdout: Group) -> Lift:
    """Rates, difference, interval, p-value and verdict of treatment against holdout."""
    if not treatment.sessions or not holdout.sessions:
        return Lift(treatment, holdout, None, None, None, None, None, NOT_ENOUGH_DATA)
    x1, n1 = treatment.conversions, treatment.sessions
    x2, n2 = holdout.conversions, holdout.sessions
    difference = x1 / n1 - x2 / n2
    holdout_rate = x2 / n2
    relative = difference / holdout_rate if holdout_rate else None
    low, high = newcombe_interval(x1, n1, x2, n2)
    p_value = two_proportion_p_value(x1, n1, x2, n2)
    verdict: Verdict
    if min(n1, n2) < MIN_SESSIONS or x1 + x2 < MIN_CONVERSIONS:
        verdict = NOT_ENOUGH_DATA
    elif p_value < SIGNIFICANCE:
        verdict = LIFTS if difference > 0 else LOWERS
    else:
        verdict = NO_CLEAR_DIFFERENCE
    return Lift(treatment, holdout, difference, relative, low, high, p_value, verdict)
