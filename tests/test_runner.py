"""The runner's contract: caching by content, failures confined to their cell, resumability."""

from __future__ import annotations

import csv
import signal
import sqlite3
import subprocess
import time

import yaml

from conftest import GEFU, env_with, write_photo
from gefu.bench.config import validate_config
from gefu.bench.runner import Runner
from gefu.bench.store import Store


def config(tmp_path, root, enhancers, **over):
    data = {
        "name": "t",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "batch_size": 2,
        "enhancers": enhancers,
        "datasets": [{"name": "paired_folder", "root": str(root)}],
        "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr", "ssim"]}}],
    }
    data.update(over)
    return data


def run(data, **kw):
    return Runner(validate_config(data), quiet=True, **kw).run()


def test_grid_runs_and_reruns_recompute_nothing(tmp_path, paired_dir):
    data = config(tmp_path, paired_dir, [{"name": "identity"}, {"name": "gamma"}])
    first = run(data)
    assert len(first.computed) == 3 and not first.failed  # 2 enhancers + the reference row
    second = run(data)
    assert not second.computed and len(second.cached) == 3
    data["enhancers"].append({"name": "he"})
    third = run(data)
    assert [c.enhancer for c in third.computed] == ["he"]
    assert len(run(data, force=True).computed) == 4

    with Store(tmp_path / "results") as store:
        key = first.computed[0].key
        assert len(store.image_scores(key, "psnr")) == 4
        cell = store.cell(key)
        assert cell["n_images"] == 4 and cell["params"] == 0 and cell["ms_per_mp"] > 0
    assert (tmp_path / "results" / "leaderboard.md").is_file()


def test_cache_key_changes_with_params_and_data(tmp_path, paired_dir):
    data = config(tmp_path, paired_dir, [{"name": "gamma", "params": {"gamma": 0.5}}])
    run(data)
    data["enhancers"][0]["params"]["gamma"] = 0.6
    assert len(run(data).computed) == 1  # new params: recomputed (the reference is cached)
    write_photo(paired_dir / "low" / "img0.png", (24, 32), seed=9, scale=0.2)
    assert len(run(data).computed) == 2  # a changed file invalidates every cell of the set


def test_broken_enhancers_fail_their_cells_only(tmp_path, paired_dir, plugin_in_process):
    names = ["raises", "returns_nan", "wrong_shape", "identity"]
    outcome = run(config(tmp_path, paired_dir, [{"name": n} for n in names]))
    failed = {cell.enhancer: why for cell, why in outcome.failed}
    assert set(failed) == {"raises", "returns_nan", "wrong_shape"}
    assert "boom on purpose" in failed["raises"]
    assert "NaN" in failed["returns_nan"] and "shape" in failed["wrong_shape"]
    assert {c.enhancer for c in outcome.computed} == {"identity", "reference"}
    md = (tmp_path / "results" / "leaderboard.md").read_text()
    assert "boom on purpose" in md


def test_unreadable_images_are_reported_and_skipped(tmp_path):
    folder = tmp_path / "mixed"
    size = (96, 128)  # NIQE needs room for its 96-pixel blocks
    write_photo(folder / "good.png", size)
    import cv2
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "deep.png"), rng.integers(0, 65535, (*size, 3), dtype=np.uint16))
    Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)).save(folder / "gray.jpg")
    rgba = rng.integers(0, 255, (*size, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    (folder / "zero.png").write_bytes(b"")
    (folder / "cut.png").write_bytes((folder / "good.png").read_bytes()[:40])
    data = config(tmp_path, folder, [{"name": "identity"}])
    data["datasets"] = [{"name": "unpaired_folder", "root": str(folder)}]
    data["evaluations"] = [{"name": "iqa", "params": {"metrics": ["niqe"]}}]
    outcome = run(data)
    assert len(outcome.computed) == 1
    with Store(tmp_path / "results") as store:
        key = outcome.computed[0].key
        assert store.cell(key)["n_images"] == 4
        problems = {p["item"]: p["message"] for p in store.problems(key)}
    assert set(problems) == {"zero.png", "cut.png"}
    assert "empty file" in problems["zero.png"]


def test_killed_run_resumes_to_the_same_leaderboard(tmp_path, paired_dir, plugin_path):
    enhancers = [
        {"name": "sleepy", "id": f"sleepy-{i}", "params": {"seconds": 0.3 + 0.01 * i}}
        for i in range(5)
    ]
    killed = config(tmp_path / "a", paired_dir, enhancers)
    clean = config(tmp_path / "b", paired_dir, enhancers)
    files = []
    for data, name in [(killed, "a.yaml"), (clean, "b.yaml")]:
        (tmp_path / name).write_text(yaml.safe_dump(data))
        files.append(tmp_path / name)
    env = env_with(plugin_path)
    proc = subprocess.Popen(
        [*GEFU, "run", str(files[0]), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = tmp_path / "a" / "results" / "results.sqlite"
    deadline = time.time() + 60
    while time.time() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    if con.execute("SELECT COUNT(*) FROM cells").fetchone()[0] >= 2:
                        break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as con:
        done = con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
    assert 2 <= done < 6, "the kill should land mid-grid"
    for f in files:
        subprocess.run([*GEFU, "run", str(f), "--quiet"], env=env, check=True, capture_output=True)

    def rows(folder):
        with open(folder / "results" / "leaderboard.csv") as f:
            return [
                {k: v for k, v in r.items() if k not in ("images_per_s", "ms_per_mp")}
                for r in csv.DictReader(f)
            ]

    assert rows(tmp_path / "a") == rows(tmp_path / "b")
