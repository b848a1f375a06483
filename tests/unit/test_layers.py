"""The layer rule, checked mechanically: imports point inward (docs/architecture.md, "Layers").

domain ← store/rooms ← signaling/reports ← http ← the entry points: a module imports only its
own layer and the layers inside it (reports/ sits on store/ and domain/ only); only store/
imports redis, only rooms/ aiortc, aioice and av, and only rooms/aiortc_hooks.py touches
aiortc's (and aioice's) private attributes. No classroom module uses another module's
private (``_name``) names: what two modules share is public where it is defined.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "classroom"
HOOKS = PACKAGE / "rooms" / "aiortc_hooks.py"

#: layer → classroom layers it may import. A layer is a subpackage or a module of the
#: package itself; observability and tasks.py are leaves every layer but the pure domain may
#: use; config.py (settings from the environment) imports only the domain's defaults and
#: is read only at the edge, as is event_loop.py (which loop a node runs on); the package's
#: __init__ holds only __version__, so importing it is no dependency.
ALLOWED: dict[str, set[str]] = {
    "domain": {"domain"},
    "tasks": set(),
    "config": {"domain"},
    "event_loop": {"config", "domain"},
    "__init__": set(),
    "observability": {"observability", "tasks"},
    "store": {"store", "domain", "observability", "tasks"},
    "rooms": {"rooms", "domain", "observability", "tasks"},
    "signaling": {"signaling", "rooms", "store", "domain", "observability", "tasks"},
    "reports": {"reports", "store", "domain", "observability", "tasks"},
}
#: http sits on signaling and reports, and reads the settings.
ALLOWED["http"] = {"http", "config", *ALLOWED["signaling"], *ALLOWED["reports"]}
#: The entry points are outermost (the command line, the runner of several node processes):
#: they may import any layer, and no layer imports them.
ENTRY_POINTS = ("cli", "cluster", "demo", "__main__")
ALLOWED.update({name: {*ALLOWED, *ENTRY_POINTS} for name in ENTRY_POINTS})
#: third-party packages only one layer may import.
EXCLUSIVE = {
    "redis": "store",
    "aiortc": "rooms",
    "aioice": "rooms",
    "av": "rooms",
    "uvloop": "event_loop",
}
#: Packages whose private attributes only HOOKS may touch.
AIORTC_PACKAGES = ("aiortc", "aioice")


def module_parts(path: Path) -> list[str] | None:
    """The dotted name of a (possibly hypothetical) module of the package, split; None if
    `path` is outside the package."""
    try:
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
    except ValueError:
        return None
    parts = list(rel.parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def is_module(name: str) -> bool:
    """Whether ``classroom.x.y`` names a module or package (rather than a name in one)."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def imports_of(source: str, path: Path) -> set[str]:
    """Absolute dotted names of the modules `source` (the module at `path`) imports.

    Every form counts, wherever it is (in a function, under ``if TYPE_CHECKING:``):
    ``import a.b``, ``from a.b import c``, relative imports resolved against `path`,
    ``importlib.import_module("a.b")`` and ``__import__("a.b")`` with a literal name. In
    ``from classroom import x`` the layer is x, so x is kept when it is a module or package.
    """
    names: set[str] = set()
    package = module_parts(path)
    if package is not None and path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                module = node.module or ""
            elif package is None or node.level > len(package):
                continue  # relative to nothing we know: Python would refuse it too
            else:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            if module == "classroom":
                names.update(
                    f"{module}.{alias.name}"
                    for alias in node.names
                    if is_module(f"{module}.{alias.name}")
                )
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    names.discard("")
    return names


def imports(path: Path) -> set[str]:
    return imports_of(path.read_text(), path)


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer_of(path: Path) -> str:
    """A subpackage is a layer, and so is each module of the package itself."""
    rel = path.relative_to(PACKAGE).parts
    return path.stem if len(rel) == 1 else rel[0]


def target_layer(name: str) -> str | None:
    """The layer of an imported module; None outside classroom and for the package root."""
    parts = name.split(".")
    return parts[1] if parts[0] == "classroom" and len(parts) > 1 else None


def violations(source: str, path: Path) -> list[str]:
    """What the module at `path` with this source imports against the layer rule."""
    layer = layer_of(path)
    problems: list[str] = []
    for name in sorted(imports_of(source, path)):
        top = name.split(".")[0]
        if top in EXCLUSIVE and layer != EXCLUSIVE[top]:
            problems.append(f"{layer}/{path.name} imports {name}: only {EXCLUSIVE[top]}/ may")
        target = target_layer(name)
        if target is not None and target not in ALLOWED.get(layer, set()):
            problems.append(f"{layer}/{path.name} imports {name} (layer {target})")
    return problems


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_inward(path: Path) -> None:
    assert violations(path.read_text(), path) == []


def test_every_module_and_package_is_in_the_layer_table() -> None:
    assert {layer_of(path) for path in modules()} <= set(ALLOWED)


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import redis\nfrom classroom.http import app\n")
    assert imports(bad) == {"redis", "classroom.http"}


DOMAIN_MODULE = PACKAGE / "domain" / "example.py"


@pytest.mark.parametrize(
    ("source", "layer"),
    [
        ("from classroom import store\n", "store"),
        ("import classroom.config\n", "config"),
        ("from classroom.demo import main\n", "demo"),
        ("from classroom import http, tasks\n", "http"),
        ("from .. import store\n", "store"),
        ("from ..rooms.room import MAIN_ROOM\n", "rooms"),
        ("def later() -> None:\n    from classroom.signaling import connection\n", "signaling"),
        (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from classroom.store.repository import Store\n",
            "store",
        ),
        ("import importlib\nimportlib.import_module('classroom.observability')\n", "observability"),
        ("import classroom.reports.data\n", "reports"),
    ],
)
def test_the_checker_catches_every_form_of_import(source: str, layer: str) -> None:
    found = violations(source, DOMAIN_MODULE)
    assert any(f"(layer {layer})" in v for v in found), found


def test_the_checker_allows_what_the_layer_may_import() -> None:
    ok = (
        "from . import models\nfrom .models import Role\nfrom classroom import domain\n"
        "from classroom.domain import rounds\nimport classroom\nfrom classroom import __version__\n"
    )
    assert violations(ok, DOMAIN_MODULE) == []
    assert violations(ok, PACKAGE / "domain" / "__init__.py") == []
    entry = "from classroom import config, demo\nfrom classroom.http.app import create_app\n"
    assert violations(entry, PACKAGE / "cli.py") == []
    assert violations("import classroom.cli\n", PACKAGE / "http" / "app.py") != []


def test_reports_sit_on_the_store_and_the_domain_only() -> None:
    module = PACKAGE / "reports" / "x.py"
    ok = "from classroom.store.records import RecordStore\nfrom classroom.domain import models\n"
    assert violations(ok, module) == []
    for layer in ("signaling", "http", "rooms", "config"):
        found = violations(f"from classroom.{layer} import x\n", module)
        assert any(f"(layer {layer})" in v for v in found), (layer, found)


def test_the_checker_keeps_third_party_packages_to_their_layer() -> None:
    assert violations("from aiortc import RTCPeerConnection\n", PACKAGE / "rooms" / "x.py") == []
    assert violations("import aiortc.rtp\n", PACKAGE / "signaling" / "x.py") != []
    assert violations("from redis.asyncio import Redis\n", PACKAGE / "http" / "x.py") != []


# --- private names of other modules ---------------------------------------------------------


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def private_uses(source: str, path: Path) -> list[str]:
    """Each private name of another classroom module that `source` (the module at `path`)
    uses: ``from classroom.x import _name`` (relative imports too) and ``module._name``
    where ``module`` is a classroom module bound by an import (``from classroom.http import
    api`` then ``api._bearer``; ``import classroom.x as m`` then ``m._y``; ``classroom.x._y``)."""
    package = module_parts(path)
    if package is not None and path.name != "__init__.py":
        package = package[:-1]
    modules_bound: set[str] = set()  # local names (or dotted paths) that are classroom modules
    found: list[tuple[int, str]] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                module = node.module or ""
            elif package is None or node.level > len(package):
                continue
            else:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            if module.split(".")[0] != "classroom":
                continue
            for alias in node.names:
                if is_private(alias.name):
                    found.append((node.lineno, f"from {module} import {alias.name}"))
                elif is_module(f"{module}.{alias.name}"):
                    modules_bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "classroom":
                    modules_bound.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            owner = ast.unparse(node.value)
            if owner in modules_bound or (
                owner.startswith("classroom.")
                and any(owner == m or owner.startswith(m + ".") for m in modules_bound)
            ):
                found.append((node.lineno, ast.unparse(node)))
    return [f"line {line}: {code}" for line, code in sorted(found)]


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_uses_another_modules_private_names(path: Path) -> None:
    assert private_uses(path.read_text(), path) == []


def test_the_private_name_rule_catches_every_form() -> None:
    sample = (
        "from classroom.http.api import _bearer, read_json\n"
        "from classroom.http import admin, api as a\n"
        "from . import auth\n"
        "from .admin import _guard\n"
        "import classroom.http.admin\n"
        "import classroom.domain.tokens as tokens\n"
        "def f(request, login):\n"
        "    admin._session_for(request)\n"
        "    a._CHALLENGE\n"
        "    auth._cookie_key(request)\n"
        "    classroom.http.admin._guard(request)\n"
        "    tokens._b64(b'')\n"
        "    login._private\n"
        "    admin.__name__, admin.guard(request)\n"
    )
    assert private_uses(sample, PACKAGE / "http" / "reports.py") == [
        "line 1: from classroom.http.api import _bearer",
        "line 4: from classroom.http.admin import _guard",
        "line 8: admin._session_for",
        "line 9: a._CHALLENGE",
        "line 10: auth._cookie_key",
        "line 11: classroom.http.admin._guard",
        "line 12: tokens._b64",
    ]


# --- private aiortc attributes ----------------------------------------------------------------


def private_names_defined(source: str) -> set[str]:
    """Private attributes the classes in `source` define: ``def _x`` in a class body and
    ``self._x = ...`` anywhere in it (``self.__x`` under its mangled name ``_Class__x``)."""
    names: set[str] = set()
    for cls in ast.walk(ast.parse(source)):
        if not isinstance(cls, ast.ClassDef):
            continue
        found = [
            node.name
            for node in cls.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        found += [
            node.attr
            for node in ast.walk(cls)
            if isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ]
        for name in found:
            if name.startswith("__") and not name.endswith("__"):
                name = f"_{cls.name.lstrip('_')}{name}"
            if name.startswith("_") and not name.endswith("__"):
                names.add(name)
    return names


@functools.cache
def aiortc_private_names() -> frozenset[str]:
    """Private attributes aiortc's and aioice's classes define and classroom's do not (the
    hooks' own classes aside): touching one on another object is reaching into aiortc."""
    theirs: set[str] = set()
    for package in AIORTC_PACKAGES:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.origin is not None, f"{package} is not installed"
        for path in Path(spec.origin).parent.rglob("*.py"):
            theirs |= private_names_defined(path.read_text())
    ours = set().union(*(private_names_defined(p.read_text()) for p in modules() if p != HOOKS))
    return frozenset(theirs - ours)


def is_own(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def private_aiortc_accesses(source: str) -> list[str]:
    """Each ``obj._x`` (or ``getattr(obj, "_x")`` and friends) in `source` with ``_x`` a
    private aiortc attribute and ``obj`` not ``self``/``cls``."""
    private = aiortc_private_names()
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in private and not is_own(node.value):
            found.append((node.lineno, ast.unparse(node)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in private
            and not is_own(node.args[0])
        ):
            found.append((node.lineno, ast.unparse(node)))
    return [f"line {line}: {code}" for line, code in sorted(found)]


@pytest.mark.parametrize(
    "path", [p for p in modules() if p != HOOKS], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_only_the_hooks_touch_private_aiortc_attributes(path: Path) -> None:
    assert private_aiortc_accesses(path.read_text()) == []


def test_the_private_attribute_rule_catches_a_violation() -> None:
    assert {"_ssrc", "_codecs", "_nominated", "_RTCRtpSender__lsr"} <= aiortc_private_names()
    sample = (
        "def slot(transceiver):\n"
        "    ssrc = transceiver.sender._ssrc\n"
        "    return ssrc, getattr(transceiver, '_codecs', None)\n"
        "class Mine:\n"
        "    def __init__(self):\n"
        "        self._ssrc = 1\n"
    )
    assert private_aiortc_accesses(sample) == [
        "line 2: transceiver.sender._ssrc",
        "line 3: getattr(transceiver, '_codecs', None)",
    ]
