"""Every statistic is defined once, in code, and the README quotes that definition."""

from __future__ import annotations

import re
from pathlib import Path

from widget_server.analytics import customers, definitions, traffic

README = Path(__file__).resolve().parents[2] / "README.md"


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_the_readme_quotes_every_definition() -> None:
    readme = _flat(README.read_text(encoding="utf-8"))
    texts = [
        *definitions.FIGURES.values(),
        definitions.SESSION_DAY,
        definitions.ORDER_DAY,
        definitions.CHANGE,
        definitions.FUNNEL,
        definitions.BREAKDOWN,
        definitions.REALTIME,
    ]
    doc = customers.__doc__ or ""
    texts += [
        "- " + item
        for item in _flat(doc[doc.index("- customers:") : doc.index("Orders in another")]).split(
            " - "
        )
    ]
    missing = [text for text in texts if _flat(text).removeprefix("- ") not in readme]
    assert not missing


def test_every_figure_computed_is_defined() -> None:
    assert set(traffic.FIGURES) <= set(definitions.FIGURES)
    assert "other_currencies" in definitions.FIGURES
