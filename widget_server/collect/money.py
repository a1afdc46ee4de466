"""Amounts in minor units, by each currency's own exponent (ISO 4217).

Revenue is counted as integers in the currency's minor unit (cents, fils), so sums
are exact; a yen has none, a dinar three. The figure reported back is the sum
divided by the same exponent."""

from __future__ import annotations

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_ZERO.split(), 0),
    **dict.fromkeys(_THREE.split(), 3),
    "CLF": 4,
    "UYW": 4,
}


def exponent(currency: str | None) -> int:
    """Digits after the decimal point; 2 for every currency not listed as otherwise."""
    return _EXPONENTS.get(currency or "", 2)


_SCALE = (1, 10, 100, 1000, 10_000)


def to_minor(value: float, currency: str | None) -> int:
    return round(value * _SCALE[exponent(currency)])


def from_minor(minor: int, currency: str | None) -> float:
    digits = exponent(currency)
    return round(minor / _SCALE[digits], digits)
