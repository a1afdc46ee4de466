"""The dashboard's language, direction and formats, from the store's locale.

The store's `locale` setting (a BCP 47 tag such as `en-GB` or `fa-IR`) picks the
message catalog by its language (English when there is none for it), the page's
direction (right to left for Persian and Arabic, as popups do), and, in the
browser, the digits, calendar and number formats of `Intl` (fa-IR: Persian digits
and Solar Hijri dates). The server writes plain fallbacks that `format.js` replaces.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from markupsafe import Markup, escape

from widget_server.dashboard.messages import CATALOGS
from widget_server.popups.schema import RTL_LANGUAGES

Translate = Callable[..., Markup]


@dataclasses.dataclass(frozen=True, slots=True)
class Language:
    locale: str  # what Intl formats with: the store's locale as set
    code: str  # the catalog's language: en, fa
    direction: str  # ltr or rtl

    @property
    def tag(self) -> str:
        """The page's `lang`: the store's locale where its language is the catalog's."""
        return self.locale if _language(self.locale) == self.code else self.code

    def translate(self, message: str, /, **values: Any) -> Markup:
        """`message` in this language, with `{name}` filled from `values`, each
        escaped unless it is already markup (a formatted number, a link)."""
        text = CATALOGS[self.code].get(message, message)
        return Markup(escape(text)).format(**values) if values else Markup(escape(text))


def _language(locale: str) -> str:
    return re.split(r"[-_]", locale)[0].lower()


def language_for(locale: str) -> Language:
    code = _language(locale)
    code = code if code in CATALOGS else "en"
    # The layout follows the words on the page: English words stay left to right even
    # where the numbers around them are formatted for a right-to-left locale.
    direction = "rtl" if code in RTL_LANGUAGES else "ltr"
    return Language(locale, code, direction)
