"""The dependency rule of DESIGN.md, checked mechanically: imports point inward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "classroom"

#: layer → classroom layers it may import (observability and the module classroom/tasks.py
#: are leaves anyone may use).
ALLOWED = {
    "domain": {"domain"},
    "tasks": set(),
    "observability": {"observability", "tasks"},
    "store": {"store", "domain", "observability", "tasks"},
    "rooms": {"rooms", "domain", "observability", "tasks"},
    "signaling": {"signaling", "rooms", "store", "domain", "observability", "tasks"},
}
#: third-party packages only one layer may import.
EXCLUSIVE = {"redis": "store", "aiortc": "rooms", "aioice": "rooms", "av": "rooms"}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer_of(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE).parts
    if len(rel) == 1:  # a module of the package itself: only a leaf module has rules
        return path.stem if path.stem in ALLOWED else None
    return rel[0]


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_inward(path: Path) -> None:
    layer = layer_of(path)
    for name in imports(path):
        top = name.split(".")[0]
        if top in EXCLUSIVE:
            assert layer == EXCLUSIVE[top], (
                f"{path.name} imports {name}: only {EXCLUSIVE[top]}/ may"
            )
        if top == "classroom" and layer in ALLOWED:
            parts = name.split(".")
            target = parts[1] if len(parts) > 1 else None
            if target in ALLOWED or target == "http":
                assert target in ALLOWED[layer], f"{layer}/{path.name} imports {name}"


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import redis\nfrom classroom.http import app\n")
    assert imports(bad) == {"redis", "classroom.http"}
