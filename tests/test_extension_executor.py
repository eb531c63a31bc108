"""A new executor is one new file plus one registration line: a module with an ``Executor``
subclass and its entry point under ``gefu.executors``. ``gefu run --executor <name>`` then
offers it, checks its options and runs the grid through it, to the leaderboard the local
executor gives."""

from __future__ import annotations

import sys

import pytest
import yaml
from plugin_dist import make_plugin, rescan_plugins
from test_executors import board

from gefu.bench.executors import EXECUTORS
from gefu.cli.main import main

EXECUTOR = '''
from gefu.bench.executors import Executor

USED = []  # every unit this executor ran


class Serial(Executor):
    """Units one after the other in this process, each remembered."""

    shares_tasks_with_driver = True

    def __init__(self, worker):
        self.worker, self.queue = worker, []

    def submit(self, unit, advance=None):
        self.queue.append(unit)

    def next_result(self):
        unit = self.queue.pop(0)
        USED.append(unit)
        return unit, self.worker.run(unit)
'''


@pytest.fixture
def serial_executor(tmp_path, monkeypatch):
    """The module and its ``.dist-info`` (the one registration line) on ``sys.path``; the
    registry scans entry points afresh and is restored afterwards."""
    site = tmp_path / "site"
    make_plugin(site, "gefu_serial", EXECUTOR, {"gefu.executors": "serial = gefu_serial:Serial"})
    monkeypatch.syspath_prepend(str(site))
    rescan_plugins(EXECUTORS, monkeypatch)
    yield
    sys.modules.pop("gefu_serial", None)


def config(tmp_path, name: str):
    path = tmp_path / f"{name}.yaml"
    data = {
        "name": name,
        "output": str(tmp_path / name),
        "device": "cpu",
        "batch_size": 2,
        "enhancers": [{"name": "identity"}, {"name": "gamma"}],
        "datasets": [{"name": "demo", "limit": 4, "params": {"severities": ["x300"]}}],
        "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr", "ssim"]}}],
    }
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_plugin_executor_runs_the_grid_to_the_local_leaderboard(
    tmp_path, serial_executor, capsys
):
    assert "serial" in EXECUTORS and EXECUTORS.origin("serial") == "gefu-serial"
    assert main(["run", config(tmp_path, "local"), "--quiet", "--executor", "local"]) == 0
    assert main(["run", config(tmp_path, "serial"), "--quiet", "--executor", "serial"]) == 0
    from gefu_serial import USED

    # one unit per row (identity, gamma, the reference): 4 images fit one shard
    assert sorted(u.row for u in USED) == ["gamma", "identity", "reference"]
    assert all(u.evaluations == ("iqa",) and (u.start, u.stop) == (0, 4) for u in USED)
    assert board(tmp_path / "serial") == board(tmp_path / "local")
    capsys.readouterr()
    assert main(["run", config(tmp_path, "opts"), "--executor", "serial", "--workers", "2"]) == 2
    assert "executor 'serial' takes no workers" in capsys.readouterr().err
    assert len(USED) == 3 and not (tmp_path / "opts").exists()
