"""The README's file map is the tree: every module of the server is named, where it is."""

from __future__ import annotations

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
    folder = ""
    for line in block.splitlines()[1:]:
        match = re.match(r"( +)(\S+)", line)
        if not match or len(match.group(1)) % 2 or match.group(2).startswith("`"):
            continue  # a continued description
        depth, name = len(match.group(1)) // 2, match.group(2)
        if name.endswith("/"):
            folder = name if depth == 1 else folder
        elif name.endswith(".py"):
            named.append(name if depth == 1 else folder + name)
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
