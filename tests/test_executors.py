"""Scale-out: the same grid through the local, processes and Ray executors, with and without
shards, gives the same per-image scores and the same leaderboard, each cell written once; a
worker or a driver killed mid-run resumes to the identical leaderboard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from conftest import GEFU, env_with
from gefu.bench.batches import iter_batches
from gefu.bench.config import validate_config
from gefu.bench.runner import Runner
from gefu.bench.store import Store
from gefu.tasks.scoring import decode

DETECTOR = {
    "model": {"family": "darknet", "input_size": 256},
    "ref_score_thr": 0.25,
    "metric": "coco",
}


def grid(tmp_path, name="r", enhancers=("identity", "gamma", "noisy"), limit=6):
    return {
        "name": "scale",
        "output": str(tmp_path / name),
        "device": "cpu",
        "batch_size": 2,
        "samples": 3,
        "enhancers": [{"name": n} for n in enhancers],
        "datasets": [{"name": "demo", "limit": limit, "params": {"severities": ["x300"]}}],
        "evaluations": [
            {"name": "iqa", "params": {"metrics": ["psnr", "ssim"]}},
            {"name": "detection_consistency", "params": DETECTOR},
        ],
    }


def run(data, monkeypatch=None, **kw):
    """Run, counting the store writes of each cell."""
    from gefu.bench import store as store_module

    writes: dict[str, int] = {}
    real = store_module.Store.write_cell

    def counting(self, result):
        writes[result.cell_key] = writes.get(result.cell_key, 0) + 1
        return real(self, result)

    monkeypatch.setattr(store_module.Store, "write_cell", counting)
    outcome = Runner(validate_config(data), quiet=True, **kw).run()
    return outcome, writes


def board(results_dir) -> dict:
    """Every metric of every cell and every per-image score, by labels (not timings)."""
    out = {}
    with Store(results_dir) as store:
        run_id = store.latest_run()["run_id"]
        for g in store.run_grid(run_id):
            key = g["cell_key"]
            assert store.cell(key)["status"] == "ok", store.cell(key)["error"]
            labels = (g["enhancer"], g["dataset"], g["evaluation"])
            for m in store.cell_metrics(key):
                out[(*labels, m["metric"])] = m["value"]
                out[(*labels, m["metric"], "images")] = store.image_score_map(key, m["metric"])
            out[(*labels, "samples")] = [(s["image"], s["kind"]) for s in store.samples(key)]
    return out


@pytest.fixture
def plugin_everywhere(plugin_in_process, monkeypatch):
    """The test plugin (its stochastic ``noisy`` enhancer) in worker processes too."""
    paths = [str(plugin_in_process), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    return plugin_in_process


def test_batches_are_whole_blocks_whatever_the_shard(paired_dir):
    from gefu.datasets import create_dataset

    ds = create_dataset("paired_folder", root=str(paired_dir))
    names = lambda start, stop: [  # noqa: E731
        [s.name for s in b] for b, _ in iter_batches(ds, 2, start, stop)
    ]
    assert names(0, 4) == names(0, 2) + names(2, 4)
    with pytest.raises(ValueError, match="multiple of batch"):
        next(iter_batches(ds, 2, 1, 4))


def test_every_executor_and_shard_size_gives_the_same_results(
    tmp_path, plugin_everywhere, monkeypatch
):
    reference, writes = run(grid(tmp_path, "local"), monkeypatch)
    keys = {c.key for c in reference.computed}
    assert len(keys) == 4 * 2 and not reference.failed  # 3 enhancers + reference, 2 evaluations
    assert set(writes.values()) == {1}
    expected = board(tmp_path / "local")
    runs = {
        "local-sharded": dict(shard_size=2),
        "processes-1": dict(executor="processes", executor_options={"workers": 1}, shard_size=4),
        "processes-2": dict(executor="processes", executor_options={"workers": 2}, shard_size=2),
        "ray": dict(executor="ray", executor_options={"workers": 2}, shard_size=2),
    }
    for name, kw in runs.items():
        if name == "ray":
            pytest.importorskip("ray")
        outcome, writes = run(grid(tmp_path, name), monkeypatch, **kw)
        assert not outcome.failed, (name, outcome.failed)
        assert {c.key for c in outcome.computed} == keys, name  # same cache keys
        assert writes == dict.fromkeys(keys, 1), name  # every cell written exactly once
        assert board(tmp_path / name) == expected, name


def test_a_sharded_detection_map_is_the_map_of_the_gathered_records(tmp_path, monkeypatch):
    from gefu.tasks import create_task

    data = grid(tmp_path, "whole", enhancers=("gamma",))
    whole, _ = run(data, monkeypatch)
    sharded, _ = run(grid(tmp_path, "shards", enhancers=("gamma",)), monkeypatch, shard_size=2)
    task = create_task("detection_consistency", **DETECTOR)
    task.setup("cpu")  # the class names come with the model, as on the driver
    for outcome in (whole, sharded):
        [cell] = [
            c
            for c in outcome.computed
            if c.enhancer == "gamma" and c.evaluation == "detection_consistency"
        ]
        with Store(outcome.results_dir) as store:
            stored = {m["metric"]: m["value"] for m in store.cell_metrics(cell.key)}
            records = [decode(blob)[1] for _, blob in store.image_records(cell.key)]
        assert len(records) == 6  # the demo's first 6 photos at one exposure, in 3 shards
        recomputed = task.compute(records)  # pycocotools, on the records as gathered
        assert recomputed["mAP"] == pytest.approx(stored["mAP"], abs=1e-12)
    with Store(whole.results_dir) as a, Store(sharded.results_dir) as b:
        maps = [
            {
                (c.enhancer, c.evaluation): {m["metric"]: m["value"] for m in s.cell_metrics(c.key)}
                for c in o.computed
            }
            for s, o in ((a, whole), (b, sharded))
        ]
    assert maps[0] == maps[1]


def _cli(tmp_path, name, *extra):
    path = tmp_path / f"{name}.yaml"
    data = grid(tmp_path, name, enhancers=("identity", "gamma", "he", "clahe"), limit=6)
    path.write_text(yaml.safe_dump(data))
    cmd = [*GEFU, "run", str(path), "--quiet", *extra]
    env = env_with() | {"OMP_NUM_THREADS": "1"}  # one torch thread in every process: see
    # docs/scaling.md (CPU kernels may round differently with another thread count)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_when(proc, pick, after_s=0.0, timeout=300):
    import psutil

    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        victims = pick(psutil.Process(proc.pid))
        if victims:
            time.sleep(after_s)
            for v in victims:
                os.kill(v.pid, signal.SIGKILL)
            return True
        time.sleep(0.05)
    return False


def _workers(driver):
    import psutil

    found = []
    for child in driver.children(recursive=True):
        try:  # a child may exit between the listing and this look
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found[:1]


def test_a_killed_worker_or_driver_resumes_to_the_identical_leaderboard(tmp_path):
    straight = _cli(tmp_path, "straight")
    assert straight.wait(600) == 0, straight.stderr.read()
    expected = board(tmp_path / "straight")

    proc = _cli(
        tmp_path, "worker_killed", "--executor", "processes", "--workers", "2", "--shard-size", "2"
    )
    assert _kill_when(proc, _workers, after_s=3.0)
    assert proc.wait(600) == 0, proc.stderr.read()  # its units ran again on a fresh worker
    assert board(tmp_path / "worker_killed") == expected

    proc = _cli(
        tmp_path, "driver_killed", "--executor", "processes", "--workers", "2", "--shard-size", "2"
    )
    assert _kill_when(proc, lambda d: [d] if _workers(d) else [], after_s=4.0)
    proc.wait(60)
    rerun = _cli(tmp_path, "driver_killed")
    assert rerun.wait(600) == 0, rerun.stderr.read()
    assert board(tmp_path / "driver_killed") == expected


def test_ray_without_the_extra_is_one_clear_message(tmp_path, monkeypatch, capsys):
    from gefu.cli.main import main

    monkeypatch.setitem(sys.modules, "ray", None)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(grid(tmp_path, "noray", enhancers=("identity",), limit=2)))
    assert main(["run", str(path), "--quiet", "--executor", "ray"]) == 2
    assert "pip install 'gefu-bench[ray]'" in capsys.readouterr().err


def test_each_process_builds_each_dataset_and_evaluation_once(tmp_path, monkeypatch):
    import gefu.datasets
    import gefu.tasks
    from gefu.bench.work import Unit, Worker

    built = []
    for module, name in ((gefu.datasets, "create_dataset"), (gefu.tasks, "create_task")):
        real = getattr(module, name)

        def counting(*args, _real=real, _name=name, **kw):
            built.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(module, name, counting)
    data = grid(tmp_path, enhancers=("identity", "gamma"), limit=4)
    data["evaluations"] = data["evaluations"][:1]  # iqa
    config = validate_config(data)
    outcome = Runner(config, quiet=True, shard_size=2).run()  # 3 rows x 2 shards, in-process
    assert len(outcome.computed) == 3 and not outcome.failed
    assert built == ["create_dataset", "create_task"]  # by the grid; the worker shares them
    worker = Worker(config, "cpu")  # as in a worker process: its own, built on first use
    for shard, start in enumerate((0, 2)):
        result = worker.run(Unit("demo", "gamma", ("iqa",), start, start + 2, shard, "k"))
        assert result.error is None and result.parts["iqa"].records
    assert built == ["create_dataset", "create_task"] * 2
