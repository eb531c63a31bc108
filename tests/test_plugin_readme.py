"""The README's plugin example, installed with pip into this environment, listed and run."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from conftest import GEFU, REPO


def readme_files() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    pattern = r"<!-- plugin-example: (\S+) -->\n```\w+\n(.*?)```"
    return {name: body for name, body in re.findall(pattern, text, flags=re.S)}


def test_readme_plugin_installs_lists_and_runs(tmp_path, paired_dir):
    files = readme_files()
    assert set(files) == {"pyproject.toml", "gefu_darkplugin/__init__.py"}
    pkg = tmp_path / "gefu-darkplugin"
    for name, body in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(body)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", str(pkg)], check=True)
    try:
        listed = subprocess.run([*GEFU, "list", "enhancers"], capture_output=True, text=True)
        assert re.search(r"brighten\s+available\s+\[from gefu-darkplugin\]", listed.stdout)
        config = {
            "name": "plugin",
            "output": str(tmp_path / "results"),
            "device": "cpu",
            "enhancers": [{"name": "brighten", "params": {"factor": 3.0}}],
            "datasets": [{"name": "paired_folder", "root": str(paired_dir)}],
            "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr"]}}],
        }
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
        done = subprocess.run(
            [*GEFU, "run", str(tmp_path / "c.yaml"), "--quiet"], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "| brighten" in (tmp_path / "results" / "leaderboard.md").read_text()
    finally:
        subprocess.run([*pip, "uninstall", "-y", "gefu-darkplugin"], check=True)
