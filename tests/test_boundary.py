"""The core stays platform-neutral and cheap to import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ("commands", "storage", "schedules")
SDKS = ("slack_bolt", "slack_sdk", "lark_oapi")


def _imports(path: Path, *, root: Path = ROOT) -> list[str]:
    """Every module a file names in an import: `import a.b`, `from a.b import c` (also as
    `a.b.c`, which may be a module), a relative import resolved against the file's
    package, and `importlib.import_module("a.b")` / `__import__("a.b")` with a literal or
    an f-string's fixed start."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = list(path.relative_to(root).parent.parts)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.append(module)
            names += [".".join(filter(None, (module, alias.name))) for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and _is_dynamic_import(node.func):
            first = node.args[0]
            if isinstance(first, ast.JoinedStr) and first.values:
                first = first.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.append(first.value)
    return [name for name in names if name]


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def test_import_reader_sees_every_form(tmp_path: Path) -> None:
    """The reader behind the boundary tests sees relative and dynamic imports too, so no
    form of import slips past them."""
    source = (
        "import storage.db\n"
        "from . import router\n"
        "from ..bot import app\n"
        "from .. import bot\n"
        "from schedules.engine import Engine\n"
        "import importlib\n"
        "importlib.import_module('bot.serve')\n"
        "__import__(f'bot.{name}.setup')\n"
    )
    probe = tmp_path / "commands" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(source, encoding="utf-8")
    assert sorted(_imports(probe, root=tmp_path)) == [
        "bot", "bot", "bot.", "bot.app", "bot.serve", "commands", "commands.router", "importlib",
        "schedules.engine", "schedules.engine.Engine", "storage.db",
    ]  # fmt: skip


def test_every_package_is_a_layer() -> None:
    """Every package of the project is one of the layers, so none is left unchecked."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(LAYERS)


@pytest.mark.parametrize("package", CORE)
def test_core_never_imports_a_platform_sdk(package: str) -> None:
    """No module of commands/, storage/ or schedules/ imports slack_bolt, slack_sdk or lark_oapi."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] in SDKS
    ]
    assert offenders == []


def test_console_run_loads_no_platform_sdk(tmp_path: Path) -> None:
    """A whole console session never loads a platform SDK (lark-oapi alone costs seconds)."""
    script = (
        "import sys\n"
        "from bot.cli import main\n"
        "code = main(['console', '-c', '/task add probe @ana'])\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {SDKS!r})\n"
        "print('LOADED', loaded)\n"
        "sys.exit(code)\n"
    )
    env = {"TEAMBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Created T-1: probe" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"


# What each layer may import of the others: bot -> schedules -> commands -> storage.
LAYERS = ("bot", "schedules", "commands", "storage")


@pytest.mark.parametrize("package", LAYERS[1:])
def test_imports_run_one_way(package: str) -> None:
    """schedules/ never imports bot; commands/ neither bot nor schedules; storage/ none of
    the three (work-day logic, charts and the kinds of schedules are domain code in
    commands/), whatever the form of the import (relative, dynamic, for type checking)."""
    above = LAYERS[: LAYERS.index(package)]
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] in above
    ]
    assert offenders == []
