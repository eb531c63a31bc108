"""A throwaway plugin distribution for the "one new file" extension tests: one source file and
the entry-point lines that register it, in a folder that looks like an installed distribution
to ``importlib.metadata`` once it is on ``sys.path`` or ``PYTHONPATH``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GEFU = [sys.executable, "-m", "gefu.cli.main"]


def make_plugin(site: Path, module: str, source: str, entry_points: dict[str, str]) -> Path:
    """Write ``site/<module>.py`` (``source``, dedented) and ``site/<module>-0.1.dist-info``
    (METADATA and ``entry_points.txt``: one ``name = target`` line per group, e.g.
    ``{"gefu.enhancers": "dim = my_plugin:Dim"}``). Several plugins may share one ``site``.
    Returns the source file."""
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    path = site / f"{module}.py"
    path.write_text(textwrap.dedent(source))
    name = module.replace("_", "-")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "top_level.txt").write_text(module + "\n")
    lines = [f"[{group}]\n{line}\n" for group, line in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines))
    return path


def gefu(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``gefu ARGS`` in a fresh process that sees the plugins in ``site``."""
    env = dict(os.environ)
    parts = [str(REPO), str(site), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([*GEFU, *args], capture_output=True, text=True, env=env, cwd=cwd)


def rescan_plugins(registry, monkeypatch) -> None:
    """Make ``registry`` forget every plugin and scan the entry points again on next use (the
    built-ins kept); ``monkeypatch`` restores it after the test."""
    builtin = {n for n, origin in registry._origin.items() if origin == "gefu"}
    for attr in ("_lazy", "_loaded", "_origin"):
        kept = {k: v for k, v in getattr(registry, attr).items() if k in builtin}
        monkeypatch.setattr(registry, attr, kept)
    monkeypatch.setattr(registry, "_plugins_scanned", False)
