"""The README's file map is the tree: every module of the server is named, where it is."""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PACKAGE = ROOT / "widget_server"


def _file_map() -> list[str]:
    """The paths the README's map of `widget_server/` names, as `pkg/module.py`."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index("```\nwidget_server/") + 4 :]
    block = block[: block.index("\nrecommender/")]
    named: list[str] = []
    folders: list[str] = []  # the folders above the current line, by depth
    for line in block.splitlines()[1:]:
        match = re.match(r"( +)(\S+)", line)
        if not match or len(match.group(1)) % 2 or match.group(2).startswith("`"):
            continue  # a continued description
        depth, name = len(match.group(1)) // 2, match.group(2)
        if depth > len(folders) + 1:
            continue  # deeper than any folder named: a continued description
        del folders[depth - 1 :]
        if name.endswith("/"):
            folders.append(name)
        elif name.endswith(".py"):
            named.append("".join(folders) + name)
    return named


def _modules() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if path.name in {"__init__.py", "__main__.py"}:
            continue
        found.append(relative)
    return found


def test_every_module_is_in_the_file_map() -> None:
    named = _file_map()
    assert len(named) > 20  # the parser found the map
    missing = sorted(set(_modules()) - set(named))
    assert not missing, f"README's file map does not name {missing}"


def test_the_file_map_names_no_module_that_is_gone() -> None:
    gone = sorted(set(_file_map()) - set(_modules()))
    assert not gone, f"README's file map names modules that do not exist: {gone}"


def test_every_subpackage_says_what_it_is() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        text = init.read_text(encoding="utf-8").strip()
        assert text.startswith('"""'), f"{init.parent.name}/__init__.py has no docstring"
        # The docstring is the whole file: a surface exports nothing it need not.
        assert text.count('"""') == 2 and text.endswith('"""'), init
        assert "\n" not in text, f"{init.parent.name}/__init__.py: one line says what it is"


# -- links: a user reads these files in a clone, where nothing beside it exists -------

DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#|//)", re.IGNORECASE)


def _outside_fences(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def _within(doc: Path, target: str) -> Path | None:
    """`target` as `doc` names it, or None where it points outside the repository:
    worked out from the text alone (no `resolve`), so that the check never looks at
    a file or folder beside the clone."""
    path = Path(os.path.normpath(doc.parent / target))
    return path if path.is_relative_to(ROOT) else None


def _link_problems(doc: Path, text: str) -> list[str]:
    """Links and path-like mentions of `doc` that do not resolve inside the repository."""
    problems = []
    prose = _outside_fences(text)
    targets = LINK.findall(prose) + REFERENCE.findall(prose)
    for target in targets:
        if EXTERNAL.match(target):
            continue
        path = _within(doc, target.split("#")[0])
        if path is None:
            problems.append(f"{target}: outside the repository")
        elif not path.exists():
            problems.append(f"{target}: no such file")
    for span in CODE_SPAN.findall(prose):
        if " " in span or EXTERNAL.match(span):
            continue
        # `./x` and `<os.pardir>/x` from the reader's place; `benchmarks/README.md` from the root
        relative = span.startswith(("./", f"{os.pardir}/"))
        if relative and _within(doc, span) is None:
            problems.append(f"`{span}`: outside the repository")
        elif (
            not relative
            and span.endswith(".md")
            and not any((base / span).is_file() for base in (ROOT, doc.parent))
        ):
            problems.append(f"`{span}`: no such document in the repository")
    return problems


def test_every_link_of_the_readme_and_docs_resolves_inside_the_repository() -> None:
    assert (ROOT / "docs" / "design.md") in DOCS
    problems = {
        str(doc.relative_to(ROOT)): found
        for doc in DOCS
        if (found := _link_problems(doc, doc.read_text(encoding="utf-8")))
    }
    assert not problems, problems
    # the README does link somewhere: the check looked at something
    assert LINK.findall(README.read_text(encoding="utf-8"))


def test_the_link_check_finds_what_a_clone_lacks() -> None:
    # Links a document beside the clone would need, spelt with os.pardir (`..`): the
    # check must name them without opening anything there.
    up = os.pardir
    bad = (
        f"see `{up}/shared/DESIGN.md` and [the design]({up}/shared/DESIGN.md), "
        f"[gone](docs/nothing.md), `NOTES.md`\n\n[ref]: {up}/elsewhere.md\n"
    )
    found = _link_problems(README, bad)
    assert len(found) == 5, found
    good = (
        "[design](docs/design.md#budgets), [UCI](https://archive.ics.uci.edu/), "
        "`benchmarks/README.md`, `./scripts/serve`, `./.tarry`\n"
        f"```\ncat {up}/outside/file.md\n```\n"
    )
    assert _link_problems(README, good) == []


# -- figures: what the README promises is what the code's constants say -------------

NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 10: "ten"}


def _figures() -> list[tuple[str, str, str]]:
    """(what, a pattern of the README's sentence with the figure as its group, the
    figure as the code has it)."""
    from recommender import experiment, interactions
    from widget_server.admin import catalog as admin_catalog
    from widget_server.analytics import attribution, lift, stats
    from widget_server.collect import events, ingest
    from widget_server.decide import endpoint as decide
    from widget_server.decide import recommendations, subscribers
    from widget_server.models import registry, showcases, training
    from widget_server.storage import clock

    hour_ms, minute_ms = 3_600_000, 60_000
    watch = inspect.signature(registry.ModelCache).parameters["check_every"].default
    return [
        (
            "first model's search",
            r"first model, up to ([\d,]+) interactions",
            f"{training.SEARCH_UP_TO:,}",
        ),
        ("publishing margin", r"`--margin` \((\d+)%\)", f"{training.DEFAULT_MARGIN * 100:.0f}"),
        ("publishing margin (CLI)", r"\[--margin ([\d.]+)\]", str(training.DEFAULT_MARGIN)),
        (
            "model versions kept",
            r"The last (\w+) versions are kept",
            NUMBER_WORDS[registry.KEEP_VERSIONS],
        ),
        ("model check", r"Servers check `model:current` every (\S+) s", f"{watch:g}"),
        ("collect body", r"at most (\d+) KB and \d+ events", str(events.MAX_BODY_BYTES // 1024)),
        ("events per batch", r"at most \d+ KB and (\d+) events", str(events.MAX_EVENTS)),
        ("collect 413", r"over (\d+) KB or \d+ events", str(events.MAX_BODY_BYTES // 1024)),
        ("collect 413 events", r"over \d+ KB or (\d+) events", str(events.MAX_EVENTS)),
        (
            "collect 413 body",
            r"events \| `\{\"error\": \"body: larger than (\d+) bytes",
            str(events.MAX_BODY_BYTES),
        ),
        ("event age", r"Events older than (\d+) hours", str(clock.MAX_EVENT_AGE_MS // hour_ms)),
        (
            "duplicate window",
            r"event id (?:seen in the last|for) (\d+) hours",
            str(ingest.DUPLICATE_WINDOW_S // 3600),
        ),
        ("clock skew", r"off by more than (\d+) s", str(ingest.SKEW_TOLERANCE_MS // 1000)),
        ("session idle", r"after (\d+) idle minutes", str(ingest.SESSION_IDLE_S // 60)),
        ("engaged", r"`engaged_ms` >= (\d+)", str(ingest.ENGAGED_MS)),
        (
            "eval sessions",
            r"session ends after (\d+) minutes without an event",
            str(interactions.SESSION_GAP_MS // minute_ms),
        ),
        (
            "eval sample",
            r"At most ([\d,]+) test users or sessions",
            f"{experiment.MAX_TEST_QUERIES:,}",
        ),
        (
            "eval search",
            r"fewer than (\d+) validation users",
            str(experiment.MIN_VALIDATION_QUERIES),
        ),
        (
            "view weight",
            r"\(view (\d+), cart \d+, purchase \d+\)",
            f"{interactions.DEFAULT_WEIGHTS['view_item']:g}",
        ),
        (
            "cart weight",
            r"\(view \d+, cart (\d+), purchase \d+\)",
            f"{interactions.DEFAULT_WEIGHTS['add_to_cart']:g}",
        ),
        (
            "purchase weight",
            r"\(view \d+, cart \d+, purchase (\d+)\)",
            f"{interactions.DEFAULT_WEIGHTS['purchase']:g}",
        ),
        (
            "decay",
            r"decays old events \(half-life (\d+) days\)",
            f"{interactions.Weighting().half_life_days:g}",
        ),
        ("catalog body", r"body over (\d+) MB", str(admin_catalog.MAX_BODY // 2**20)),
        (
            "catalog 413 body",
            r"MB \| `\{\"error\": \"body: larger than (\d+) bytes",
            str(admin_catalog.MAX_BODY),
        ),
        ("sign-ups", r"past (\d+) sign-ups an hour", str(subscribers.PER_ADDRESS_PER_HOUR)),
        ("attribution range", r"the last 7 days; at most (\d+)\)", str(stats.MAX_ATTRIBUTION_DAYS)),
        (
            "showcase credit",
            r"up to (\d+) hours before",
            str(attribution.SHOWCASE_WINDOW_MS // hour_ms),
        ),
        ("lift sessions", r"under (\d+) sessions in either group", str(lift.MIN_SESSIONS)),
        ("lift p-value", r"when p < ([\d.]+)", f"{lift.SIGNIFICANCE:g}"),
        ("lift interval", r"its (\d+)% interval", f"{lift.CONFIDENCE * 100:.0f}"),
        ("popups per page", r"At most (\w+) popups", NUMBER_WORDS[decide.MAX_POPUPS]),
        ("items per slot", r"items per slot, 1-(\d+)", str(showcases.MAX_ITEMS)),
        (
            "ids per list",
            r"\(comma-separated ids, at most (\d+) each\)",
            str(recommendations.MAX_LIST),
        ),
    ]


def test_the_readme_figures_are_the_codes_constants() -> None:
    text = re.sub(r"\s+", " ", README.read_text(encoding="utf-8"))
    figures = _figures()
    missing = [what for what, pattern, _ in figures if not re.search(pattern, text)]
    assert not missing, f"the README no longer states: {missing}"
    wrong = {
        what: (found, figure)
        for what, pattern, figure in figures
        if (found := sorted(set(re.findall(pattern, text)))) != [figure]
    }
    assert not wrong, f"README figure != the code's (README, code): {wrong}"
