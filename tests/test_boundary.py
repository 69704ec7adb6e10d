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


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


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
    the three (work-day logic and charts are domain code in commands/)."""
    above = LAYERS[: LAYERS.index(package)]
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] in above
    ]
    assert offenders == []
