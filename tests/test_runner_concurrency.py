"""Runs that share a results folder: cells are claimed with a lease, each computed once, and a
killed run's claims are taken over."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import yaml

from conftest import GEFU, env_with
from gefu.bench.config import validate_config
from gefu.bench.runner import Runner
from gefu.bench.store import CellResult, Store, lease_seconds

WAITING = "being computed by another process"


def config(out, root, enhancers):
    return {
        "name": "t",
        "output": str(out / "results"),
        "device": "cpu",
        "batch_size": 2,
        "enhancers": enhancers,
        "datasets": [{"name": "paired_folder", "root": str(root)}],
        "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr", "ssim"]}}],
    }


def result(key, status="ok", value=20.0, spec=None, **labels):
    labels = {"enhancer": "e", "dataset": "d", "evaluation": "iqa"} | labels
    metrics = [("psnr", value, False, None)] if status == "ok" else []
    error = "broke elsewhere" if status == "failed" else None
    return CellResult(key, status=status, spec=spec or {}, error=error, metrics=metrics, **labels)


def leaderboard(folder):
    with open(folder / "results" / "leaderboard.csv") as f:
        return [
            {k: v for k, v in r.items() if k not in ("images_per_s", "ms_per_mp")}
            for r in csv.DictReader(f)
        ]


def counts(stdout: str) -> tuple[int, int, int]:
    found = re.search(r"(\d+) cell\(s\) computed, (\d+) cached, (\d+) failed", stdout)
    assert found, stdout
    return tuple(int(n) for n in found.groups())


# -- the claims themselves -------------------------------------------------------------------
def test_a_live_claim_is_respected_and_a_lapsed_one_taken_over(tmp_path):
    with Store(tmp_path, lease_s=0.5) as a, Store(tmp_path, lease_s=60) as b:
        assert a.owner != b.owner
        assert a.claim(["k1", "k2"]).mine == {"k1", "k2"}
        got = b.claim(["k1", "k3"])
        assert got.others == {"k1"} and got.mine == {"k3"} and not got.taken
        assert a.claim(["k1", "k3"]).others == {"k3"}  # b's lease is live
        time.sleep(0.7)  # a's lease runs out
        got = b.claim(["k1", "k2"])
        assert got.mine == {"k1", "k2"} and got.taken == {"k1": a.owner, "k2": a.owner}
        assert {r["owner"] for r in b.claims()} == {b.owner}


def test_a_claim_is_released_by_writing_its_cell(tmp_path):
    with Store(tmp_path, lease_s=60) as a, Store(tmp_path, lease_s=60) as b:
        a.claim(["k1", "k2"])
        b.write_cell(result("k2"))  # b holds no claim on k2: a's stays
        assert [r["cell_key"] for r in a.claims()] == ["k1", "k2"]
        a.write_cell(result("k1"))
        assert [r["cell_key"] for r in a.claims()] == ["k2"]
        got = b.claim(["k1"])
        assert got.done == {"k1": "ok"} and not got.mine
        a.release_claims()
        assert not a.claims() and b.claim(["k2"]).done == {"k2": "ok"}


def test_what_counts_as_finished(tmp_path):
    with Store(tmp_path, lease_s=60) as store:
        store.write_cell(result("old_ok"))
        store.write_cell(result("old_failed", "failed"))
        since = time.time()
        time.sleep(0.01)
        store.write_cell(result("new_failed", "failed"))
        keys = ["old_ok", "old_failed", "new_failed", "never"]
        got = store.claim(keys, since=since)
        assert got.done == {"old_ok": "ok", "new_failed": "failed"}
        assert got.mine == {"old_failed", "never"}  # failed cells are retried
        store.release_claims()
        got = store.claim(keys, since=since, redo=True)  # --force: only this run's writes
        assert got.done == {"new_failed": "failed"}
        assert got.mine == {"old_ok", "old_failed", "never"}


def test_claims_are_renewed_while_the_run_computes(tmp_path):
    with Store(tmp_path, lease_s=1.5) as a, Store(tmp_path, lease_s=60) as b:
        a.claim(["k"])
        with a.renewing():
            time.sleep(2.5)  # past the first lease
            assert b.claim(["k"]).others == {"k"}
            assert a.claims()[0]["expires"] > time.time() + 0.5
        time.sleep(1.6)
        assert b.claim(["k"]).taken == {"k": a.owner}


def test_a_claim_of_an_exited_process_on_this_host_is_taken_over_at_once(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    with Store(tmp_path, lease_s=60) as store:
        future = time.time() + 3600
        with store.transaction() as db:
            db.executemany(
                "INSERT INTO claims VALUES (?, ?, ?)",
                [
                    ("dead", f"{host}:{gone.pid}:ab", future),
                    ("alive", f"{host}:{os.getppid()}:cd", future),
                    ("remote", f"elsewhere.invalid:{gone.pid}:ef", future),
                ],
            )
        got = store.claim(["dead", "alive", "remote"])
        assert got.mine == {"dead"} and got.taken == {"dead": f"{host}:{gone.pid}:ab"}
        assert got.others == {"alive", "remote"}


def test_lease_from_the_environment(monkeypatch):
    monkeypatch.setenv("GEFU_LEASE_S", "2.5")
    assert lease_seconds() == 2.5
    monkeypatch.setenv("GEFU_LEASE_S", "soon")
    with pytest.raises(ValueError, match="GEFU_LEASE_S"):
        lease_seconds()


RACE = """
import json, pathlib, random, sys, time
from gefu.bench.store import CellResult, Store
folder, n, seed = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
keys = [f"k{i}" for i in range(n)]
random.Random(seed).shuffle(keys)
mine = []
with Store(folder) as store:
    (folder / f"ready{seed}").touch()
    while not (folder / "go").exists():
        time.sleep(0.005)
    for key in keys:
        if key in store.claim([key]).mine:
            mine.append(key)
            store.write_cell(CellResult(key, "e", "d", "v", "ok", spec={}))
print(json.dumps(mine))
"""


def test_processes_racing_for_the_same_cells_each_get_distinct_ones(tmp_path):
    n, procs = 150, 4
    Store(tmp_path).close()
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(tmp_path), str(n), str(i)],
            env=env_with(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(procs)
    ]
    deadline = time.time() + 60
    while not all((tmp_path / f"ready{i}").exists() for i in range(procs)):
        assert time.time() < deadline, "the racers did not start"
        time.sleep(0.01)
    (tmp_path / "go").touch()
    won = []
    for p in runs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err  # never "database is locked"
        won.append(json.loads(out))
    assert sorted(k for keys in won for k in keys) == sorted(f"k{i}" for i in range(n))
    with Store(tmp_path) as store:
        assert not store.claims()


# -- the runner -------------------------------------------------------------------------------
def grid(data):
    from gefu.bench.grid import build_grid

    return {c.enhancer: c for c in build_grid(validate_config(data), str).cells}


@pytest.mark.parametrize("status", ["ok", "failed"])
def test_a_run_waits_for_a_cell_another_run_holds(tmp_path, paired_dir, capsys, status):
    data = config(tmp_path, paired_dir, [{"name": "identity"}])
    data["evaluations"] = [{"name": "iqa", "params": {"metrics": ["psnr"]}}]
    cells = grid(data)
    held, own = cells["identity"], cells["reference"]
    other = Store(tmp_path / "results", lease_s=60)
    assert other.claim([held.key]).mine == {held.key}
    box = {}
    thread = threading.Thread(
        target=lambda: box.update(outcome=Runner(validate_config(data), quiet=False).run())
    )
    thread.start()
    err, deadline = "", time.time() + 120
    while f"waiting for 1 cell(s) {WAITING}" not in err:
        assert thread.is_alive() and time.time() < deadline, err
        time.sleep(0.05)
        err += capsys.readouterr().err
    assert other.cell_status(own.key) == "ok"  # it computed its own cell meanwhile
    other.write_cell(
        result(held.key, status, 99.0, held.spec, enhancer="identity", dataset=held.dataset)
    )
    thread.join(120)
    err += capsys.readouterr().err
    outcome = box["outcome"]
    assert [c.key for c in outcome.computed] == [own.key]
    if status == "ok":
        assert [c.key for c in outcome.cached] == [held.key] and not outcome.failed
    else:
        assert [(c.key, why) for c, why in outcome.failed] == [(held.key, "broke elsewhere")]
    assert "1 cell(s) computed by another process" in err
    assert other.image_scores(held.key, "psnr") == []  # not recomputed here
    assert [m["value"] for m in other.cell_metrics(held.key)] == ([99.0] if status == "ok" else [])
    assert not other.claims()
    other.close()


def test_a_run_takes_over_a_claim_whose_lease_ran_out(tmp_path, paired_dir, capsys):
    data = config(tmp_path, paired_dir, [{"name": "identity"}])
    cells = grid(data)
    with Store(tmp_path / "results", lease_s=1.0) as other:
        other.claim([cells["identity"].key])  # and never renews it, as if killed elsewhere
        outcome = Runner(validate_config(data), quiet=False).run()
        assert sorted(c.enhancer for c in outcome.computed) == ["identity", "reference"]
        assert f"taking over 1 cell(s) left by a run that stopped ({other.owner})" in (
            capsys.readouterr().err
        )
        assert not other.claims()


def test_labels_with_equal_specs_share_one_computation(tmp_path, paired_dir, capsys):
    data = config(
        tmp_path, paired_dir, [{"name": "gamma", "id": "g1"}, {"name": "gamma", "id": "g2"}]
    )
    outcome = Runner(validate_config(data), quiet=False).run()
    assert [c.enhancer for c in outcome.computed] == ["g1", "reference"]
    assert [c.enhancer for c in outcome.cached] == ["g2"] and not outcome.failed
    assert "another process" not in capsys.readouterr().err


# -- processes --------------------------------------------------------------------------------
def sleepy(seconds):
    return [
        {"name": "sleepy", "id": f"sleepy-{i}", "params": {"seconds": seconds + 0.01 * i}}
        for i in range(5)
    ]


def write_config(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def test_two_runs_on_one_folder_compute_each_cell_once(tmp_path, paired_dir, plugin_path):
    shared = write_config(tmp_path / "shared.yaml", config(tmp_path / "s", paired_dir, sleepy(0.5)))
    alone = write_config(tmp_path / "alone.yaml", config(tmp_path / "a", paired_dir, sleepy(0.5)))
    env = env_with(plugin_path)
    procs = [
        subprocess.Popen(
            [*GEFU, "run", str(f)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in (shared, shared, alone)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out + err
    first, second, clean = (counts(out) for out, _ in outs)
    assert clean == (6, 0, 0)  # 5 enhancers and the reference row
    assert first[0] + second[0] == 6, (first, second)  # each cell computed once between them
    assert first[0] >= 1 and second[0] >= 1, "the two runs should have shared the grid"
    assert first[1:] == (6 - first[0], 0) and second[1:] == (6 - second[0], 0)
    with Store(tmp_path / "s" / "results") as store:
        assert store.db.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 6
        assert not store.claims()
    rows = leaderboard(tmp_path / "s")
    assert rows == leaderboard(tmp_path / "a")
    assert sorted((r["enhancer"], r["metric"]) for r in rows) == sorted(
        (e, m) for e in [*(f"sleepy-{i}" for i in range(5)), "reference"] for m in ("psnr", "ssim")
    )


def test_a_killed_run_leaves_claims_that_a_rerun_takes_over(tmp_path, paired_dir, plugin_path):
    killed = write_config(tmp_path / "k.yaml", config(tmp_path / "k", paired_dir, sleepy(0.3)))
    alone = write_config(tmp_path / "a.yaml", config(tmp_path / "a", paired_dir, sleepy(0.3)))
    env = env_with(plugin_path) | {"GEFU_LEASE_S": "2"}
    clean = subprocess.Popen(
        [*GEFU, "run", str(alone), "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc = subprocess.Popen(
        [*GEFU, "run", str(killed), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = tmp_path / "k" / "results" / "results.sqlite"
    seen, deadline = set(), time.time() + 120
    while time.time() < deadline:  # kill just after a group is claimed, so it dies mid-group
        try:
            with sqlite3.connect(db) as con:
                done = con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
                claimed = {r[0] for r in con.execute("SELECT cell_key FROM claims")}
        except sqlite3.OperationalError:  # not created yet
            done, claimed = 0, set()
        if done >= 2 and claimed - seen:
            break
        seen |= claimed
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    # Not reaped yet: its pid still answers, as a driver on another host would, so the rerun
    # must wait for the lease to run out rather than see that the process has exited.
    with sqlite3.connect(db) as con:
        done = con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        left = con.execute("SELECT owner FROM claims").fetchall()
    assert 2 <= done < 6, "the kill should land mid-grid"
    assert left and all(owner.split(":")[1] == str(proc.pid) for (owner,) in left)
    rerun = subprocess.run(
        [*GEFU, "run", str(killed)], env=env, capture_output=True, text=True, timeout=300
    )
    proc.wait()
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"taking over {len(left)} cell(s) left by a run that stopped" in rerun.stderr
    assert counts(rerun.stdout) == (6 - done, done, 0)
    clean_out = clean.communicate(timeout=300)[0]
    assert clean.returncode == 0, clean_out
    with Store(tmp_path / "k" / "results") as store:
        assert not store.claims()
    assert leaderboard(tmp_path / "k") == leaderboard(tmp_path / "a")
