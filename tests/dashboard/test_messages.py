"""The message catalogs: every message the dashboard's templates and views write is
in every catalog, with the same placeholders, and the Persian is Persian."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from widget_server.analytics.definitions import FIGURES
from widget_server.dashboard import rule_form, verdict, web
from widget_server.dashboard.language import language_for
from widget_server.dashboard.messages import CATALOGS
from widget_server.dashboard.views import (
    catalog,
    overview,
    popups,
    retention,
    settings,
    showcases,
    signin,
)
from widget_server.popups.presets import PRESETS
from widget_server.popups.schema import Content

PACKAGE = Path(__file__).resolve().parents[2] / "widget_server" / "dashboard"
_CALL = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
# Values the pages pass to `_` as they are: breakdown values and option codes.
VALUES = ("(rest)", "(other)", "(none)", "(not set)", "(direct)")


def template_messages() -> set[str]:
    found = set()
    for template in PACKAGE.joinpath("templates").glob("*.html"):
        for match in _CALL.finditer(template.read_text()):
            found.add(match.group(1) if match.group(1) is not None else match.group(2))
    return found


def code_messages() -> set[str]:
    """First arguments of `_(...)` and `.translate(...)` in the package's Python."""
    found = set()
    for source in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            first, func = node.args[0], node.func
            named = (isinstance(func, ast.Name) and func.id == "_") or (
                isinstance(func, ast.Attribute) and func.attr == "translate"
            )
            if named and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value)
    return found


def data_messages() -> set[str]:
    """Labels, help texts and choices that the templates translate from data."""
    found: set[str] = set(VALUES) | set(web.ERRORS.values()) | {verdict.FOOTNOTE}
    for group in (*rule_form.GROUPS, *settings.GROUPS):
        found |= {group.legend} | ({group.help} if group.help else set())
        for field in group.fields:
            found |= {field.label} | ({field.help} if field.help else set())
            if field.translate_options:
                found |= {field.label_of(option) for option in field.options}
    for field in (*rule_form.VARIANT_HEAD, *rule_form.VARIANT_FIELDS):
        found.add(field.label)
    found |= {label for _name, label, _kind in overview.CARDS}
    found |= {FIGURES[name] for name, _label, _kind in overview.CARDS if name in FIGURES}
    for panel in overview.PANELS:
        found |= {panel.title} | {label for _dim, label in panel.tabs}
    found |= set(overview.FUNNEL_LABELS.values())
    found |= {label for _name, label, _kind in retention.CARDS} | set(
        retention.DEFINITIONS.values()
    )
    found |= {text for pair in popups.PRESET_TEXT.values() for text in pair}
    found |= {preset["name"] for preset in PRESETS.values()}
    found |= {signin.UNKNOWN_KEY, signin.PUBLIC_KEY, signin.NO_KEY, popups.TOO_MANY}
    found |= {"This model", "The model it replaced", *showcases.BASELINES.values()}
    found |= set(rule_form.OPTION_LABELS.values()) | set(rule_form.STRATEGY_LABELS.values())
    found |= set(catalog.FORMAT_LABELS.values()) | set(catalog.AVAILABILITY_LABELS.values())
    found |= {Content.model_fields[name].default for name in popups.POPUP_LABELS}
    return found


def all_messages() -> set[str]:
    return template_messages() | code_messages() | data_messages()


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_scan_finds_messages_of_every_kind() -> None:
    assert "Overview" in template_messages()
    assert "Not enough data yet: about {sessions} more sessions needed." in code_messages()
    assert "Distance from the top edge (px)" in data_messages()
    assert len(all_messages()) > 300


@pytest.mark.parametrize("code", sorted(set(CATALOGS) - {"en"}))
def test_every_message_is_in_the_catalog_with_its_placeholders(code: str) -> None:
    catalog = CATALOGS[code]
    missing = sorted(m for m in all_messages() if m not in catalog)
    assert not missing, f"{len(missing)} messages have no {code} text: {missing[:20]}"
    wrong = {m: catalog[m] for m in all_messages() if _placeholders(m) != _placeholders(catalog[m])}
    assert not wrong, f"placeholders differ: {wrong}"


def test_no_catalog_keeps_messages_nobody_uses() -> None:
    for code, words in CATALOGS.items():
        unused = sorted(set(words) - all_messages())
        assert not unused, f"{code}: {unused[:20]}"


# Names that stay as they are in every language.
NAMES = {"CSV", "Item-kNN", "JSON lines", "Google Merchant Center (XML)"}


def test_the_persian_is_written_in_persian_script() -> None:
    latin_only = [
        m
        for m, text in CATALOGS["fa"].items()
        if m not in NAMES and not re.search(r"[\u0600-\u06ff]", text)
    ]
    assert not latin_only, latin_only[:20]
    untranslated = [m for m, text in CATALOGS["fa"].items() if m not in NAMES and text == m]
    assert not untranslated, untranslated[:20]
    # Persian letters, not their Arabic look-alikes (ي, ك).
    arabic_letters = [m for m, text in CATALOGS["fa"].items() if re.search("[\u064a\u0643]", text)]
    assert not arabic_letters, arabic_letters[:20]


def test_a_message_is_written_in_the_store_language_with_its_values_escaped() -> None:
    persian = language_for("fa-IR")
    assert persian.translate("Overview") == "نمای کلی"
    assert persian.direction == "rtl" and persian.tag == "fa-IR"
    said = language_for("en").translate("{n} visitors now", n="<b>")
    assert str(said) == "&lt;b&gt; visitors now"
    # A locale whose language has no catalog is written in English, left to right.
    german = language_for("de-DE")
    assert (german.code, german.direction, german.tag) == ("en", "ltr", "en")
    assert german.translate("Overview") == "Overview"
