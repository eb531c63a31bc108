"""Stores that cannot be opened, written or trusted: one line each, never a traceback, and
nothing overwritten; a good store is only read by ``report`` and ``compare``."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest
from test_report import _build

from conftest import GEFU
from gefu.bench.store import DB_NAME, Store, StoreError
from gefu.cli.main import main


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    _build(d)
    return d


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_error(capsys, *words) -> str:
    cap = capsys.readouterr()
    err = cap.err.strip()
    assert "Traceback" not in cap.err + cap.out
    assert err.startswith("error: ") and err.count("\n") == 0, err
    for w in words:
        assert w in err, err
    return err


def _damaged(tmp_path, good, how: str):
    d = tmp_path / how
    d.mkdir()
    shutil.copy(good / DB_NAME, d / DB_NAME)
    db = d / DB_NAME
    data = bytearray(db.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 3 + 100]
    elif how == "header":
        data[:16] = b"not a database!!"
    else:  # a page of garbage in the middle
        page = int.from_bytes(data[16:18], "big")
        start = page * (len(data) // page // 2)
        data[start : start + page] = os.urandom(page)
    db.write_bytes(bytes(data))
    return d


def test_report_and_compare_only_read_the_store(tmp_path, good, capsys):
    d = tmp_path / "copy"
    shutil.copytree(good, d)
    before = _sha(d / DB_NAME)
    os.utime(d / DB_NAME, (1, 1))
    assert main(["report", str(d), "--output", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "leaderboard.md").is_file()
    assert main(["compare", str(d), "zerodce", "identity"]) == 0
    assert "psnr" in capsys.readouterr().out
    assert _sha(d / DB_NAME) == before and (d / DB_NAME).stat().st_mtime == 1
    wal = d / f"{DB_NAME}-wal"  # a reader of a WAL database may create it, empty
    assert not wal.exists() or wal.stat().st_size == 0


def _without_write_permission() -> list[str]:
    """A command prefix under which permissions hold: none needed for a user; root drops the
    capabilities that let it ignore them (util-linux ``setpriv``)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("root ignores file permissions and setpriv is not installed")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]


def test_read_only_folder(tmp_path, good):
    d = tmp_path / "ro"
    shutil.copytree(good, d)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "name: t\ndevice: cpu\nenhancers: [{name: gamma}]\n"
        "datasets: [{name: demo, limit: 1}]\nevaluations: [{name: iqa}]\n"
    )
    for p in (d, *d.iterdir()):
        p.chmod(0o555 if p.is_dir() else 0o444)
    prefix, env = _without_write_permission(), {**os.environ, "GEFU_THREADS": "1"}

    def gefu(*args):
        done = subprocess.run([*prefix, *GEFU, *args], capture_output=True, text=True, env=env)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout, done.stderr.strip()

    try:
        code, out, _ = gefu("compare", str(d), "zerodce", "identity")
        assert code == 0 and "psnr" in out
        assert gefu("report", str(d), "--output", str(tmp_path / "out"))[0] == 0
        code, _, err = gefu("report", str(d))
        assert code == 2 and "pass --output DIR" in err and err.count("\n") == 0
        code, _, err = gefu("run", str(cfg), "--output", str(d), "--quiet")
        assert code == 2 and f"cannot open or write the results store {d / DB_NAME}" in err
    finally:
        for p in (d, *d.iterdir()):
            p.chmod(0o755)


@pytest.mark.parametrize("how", ["truncated", "header", "page"])
def test_a_corrupt_store_is_one_line_and_left_as_it_is(tmp_path, good, capsys, how):
    d = _damaged(tmp_path, good, how)
    before = _sha(d / DB_NAME)
    assert main(["report", str(d)]) == 2
    _one_line_error(capsys, str(d / DB_NAME), "corrupt", "restore")
    assert main(["compare", str(d), "zerodce", "identity"]) == 2
    _one_line_error(capsys, str(d / DB_NAME), "corrupt")
    with pytest.raises(StoreError, match="corrupt"):
        Store(d)  # what `gefu run` opens: refused before any cached cell is trusted
    assert _sha(d / DB_NAME) == before
    assert not (d / "leaderboard.md").exists()


def test_a_results_path_that_cannot_be_a_folder(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="--output"):
        Store(tmp_path / "file")
    with pytest.raises(StoreError, match="no results store"):
        Store(tmp_path / "missing", readonly=True)
    assert not (tmp_path / "missing").exists()


def test_the_last_report_reflects_a_run_that_finished_while_another_wrote(tmp_path, monkeypatch):
    """Two runs finish at once: run 1's report is being made while run 2 is unfinished, run 2
    then finishes and writes its report. The report left must say run 2 finished (writers of
    one folder take turns; before, run 1's stale files could land last)."""
    import threading

    import gefu.bench.report.compare as compare
    from gefu.bench.report import write_report

    with Store(tmp_path) as store:
        run1 = store.start_run({}, {}, [("k1", "gamma", "lol", "iqa")])
        run2 = store.start_run({}, {}, [("k1", "gamma", "lol", "iqa")])
        store.finish_run(run1)
    entered, go = threading.Event(), threading.Event()
    real = compare.analyse

    def slow(report):
        if not entered.is_set():  # the first writer: run 1's, made while run 2 is unfinished
            entered.set()
            go.wait(30)
        return real(report)

    monkeypatch.setattr(compare, "analyse", slow)
    first = threading.Thread(target=write_report, args=(tmp_path,), kwargs={"reuse": True})
    first.start()
    assert entered.wait(30)
    with Store(tmp_path) as store:
        store.finish_run(run2)
    second = threading.Thread(target=write_report, args=(tmp_path,), kwargs={"reuse": True})
    second.start()
    second.join(1.0)  # with the lock it waits for the first writer
    go.set()
    first.join(30)
    second.join(30)
    md = (tmp_path / "leaderboard.md").read_text(encoding="utf-8")
    assert f"Run {run2}: started" in md and "not finished" not in md


def test_compare_refuses_an_unknown_name_before_the_statistics(good, capsys, monkeypatch):
    import gefu.bench.report.compare as compare

    def never(report):
        raise AssertionError("statistics computed for an unknown name")

    monkeypatch.setattr(compare, "analyse", never)
    assert main(["compare", str(good), "zerodce", "zerodec"]) == 2
    _one_line_error(capsys, "unknown enhancer zerodec; choose from:", "zerodce")
