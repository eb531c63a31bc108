"""Numbers people can trust: cache keys follow the code, failures stay in their cell, and the
demo's evaluations need no OpenMMLab build."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from conftest import GEFU, env_with
from gefu.bench.config import load_config, validate_config
from gefu.bench.runner import Runner
from gefu.bench.store import Store
from gefu.core import hashing as keys


def config(tmp_path, root, enhancers, evaluations=("iqa",), **over):
    evals = [
        {"name": "iqa", "params": {"metrics": ["psnr"]}} if e == "iqa" else {"name": e}
        for e in evaluations
    ]
    data = {
        "name": "t",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "batch_size": 2,
        "enhancers": [{"name": n} for n in enhancers],
        "datasets": [{"name": "paired_folder", "root": str(root)}],
        "evaluations": evals,
    }
    return data | over


def run(data, **kw):
    return Runner(validate_config(data), quiet=True, **kw).run()


def computed(outcome) -> set[tuple[str, str]]:
    return {(c.enhancer, c.evaluation) for c in outcome.computed}


def test_code_closure_follows_imports_within_the_package():
    names = lambda module: {p.name for p in keys._closure(module)}  # noqa: E731
    assert {"classic.py", "base.py"} <= names("gefu.enhancers.classic")
    assert "curves.py" not in names("gefu.enhancers.classic")
    assert "simulate.py" in names("gefu.datasets.darkened")  # a lazy, in-function import
    assert "detection_metrics.py" in names("gefu.tasks.faces")
    assert "__init__.py" not in names("gefu.tasks.iqa")  # registries are not followed


def test_editing_a_builtin_module_recomputes_only_its_cells(tmp_path, paired_dir, monkeypatch):
    data = config(tmp_path, paired_dir, ["identity", "he"])
    assert len(run(data).computed) == 3  # identity, he, reference
    real = keys._file_hash

    def edited(name):
        def fake(path, size, mtime):
            return "edited" if path.endswith(name) else real(path, size, mtime)

        return fake

    monkeypatch.setattr(keys, "_file_hash", edited("enhancers/histogram.py"))
    assert computed(run(data)) == {("he", "iqa")}
    monkeypatch.setattr(keys, "_file_hash", edited("datasets/folders.py"))  # the reader
    assert len(run(data).computed) == 3
    monkeypatch.setattr(keys, "_file_hash", edited("gefu/metrics/iqa.py"))  # through a registry
    assert len(run(data).computed) == 3


def test_a_library_upgrade_recomputes_the_cells_it_computes(
    tmp_path, paired_dir, plugin_in_process, monkeypatch
):
    data = config(tmp_path, paired_dir, ["identity"], evaluations=("iqa", "brightness"))
    first = run(data)
    assert len(first.computed) == 4 and not first.failed
    with Store(tmp_path / "results") as store:
        libraries = json.loads(store.cell(first.computed[0].key)["spec_json"])["libraries"]
    assert set(libraries) >= {"torch", "torchvision", "numpy"}
    real = keys.version
    monkeypatch.setattr(keys, "version", lambda d: "99.0" if d == "pyiqa" else real(d))
    assert {e for _, e in computed(run(data))} == {"iqa"}


def test_enhancers_drawing_from_the_global_rng_are_reproducible(
    tmp_path, paired_dir, plugin_in_process
):
    import torch

    data = config(tmp_path, paired_dir, ["noisy"])

    def scores(outcome):
        [cell] = [c for c in outcome.computed if c.enhancer == "noisy"]
        with Store(outcome.results_dir) as store:
            return store.image_score_map(cell.key, "psnr")

    torch.manual_seed(1)
    first = scores(run(data))
    torch.manual_seed(2)  # whatever the process did before
    assert scores(run(data, force=True)) == first
    data["batch_size"] = 1  # other batches, other draws: part of the key
    assert [c.enhancer for c in run(data).computed] == ["noisy", "reference"]


def test_failures_anywhere_stay_in_their_cell_without_a_traceback(
    tmp_path, paired_dir, plugin_path
):
    data = config(
        tmp_path,
        paired_dir,
        ["identity", "plain_dce"],
        evaluations=("iqa", "compute_raises", "setup_raises"),
    )
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    cmd = [*GEFU, "run", str(tmp_path / "c.yaml"), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env_with(plugin_path))
    console = done.stdout + done.stderr
    assert done.returncode == 1, console
    assert "Traceback" not in console
    assert "kernels-community" not in console  # third-party import chatter is silenced
    assert "0 cached, 6 failed" in console  # 3 rows x 2 broken evaluations; iqa's 3 are ok
    assert "compute broke on purpose" in console and "setup broke on purpose" in console
    md = (tmp_path / "results" / "leaderboard.md").read_text()
    assert "| plain_dce" in md and "79.4k" in md  # a plain nn.Module's parameters
    debug = subprocess.run(
        [*cmd, "--debug"], capture_output=True, text=True, env=env_with(plugin_path)
    )
    assert debug.returncode == 1 and "Traceback" in debug.stdout + debug.stderr


def test_a_failing_report_keeps_the_store(tmp_path, paired_dir, monkeypatch):
    import gefu.bench.report as report

    def broken(results_dir, **options):
        raise OSError("disk full on purpose")

    monkeypatch.setattr(report, "write_report", broken)
    outcome = run(config(tmp_path, paired_dir, ["identity"]))
    assert "disk full on purpose" in outcome.report["error"]
    assert "gefu report" in outcome.report["error"]
    with Store(tmp_path / "results") as store:
        assert all(store.cell_status(c.key) == "ok" for c in outcome.computed)
    monkeypatch.undo()
    assert run(config(tmp_path, paired_dir, ["identity"])).report["markdown"].is_file()


def test_the_demo_evaluations_need_no_mmdet(tmp_path, monkeypatch):
    for module in ("mmdet", "mmcv", "mmengine"):
        monkeypatch.setitem(sys.modules, module, None)  # unimportable
    demo = load_config(None).model_dump(mode="json")
    demo |= {"output": str(tmp_path / "demo"), "device": "cpu"}
    demo["enhancers"] = [e for e in demo["enhancers"] if e["name"] in ("identity", "gamma")]
    demo["datasets"][0]["limit"] = 2
    outcome = run(demo)
    assert not outcome.failed and not outcome.unavailable
    assert len(outcome.computed) == 4 * 4  # identity, 2 gammas, reference x 4 evaluations

    voc = config(tmp_path, tmp_path, ["identity"])
    voc["datasets"] = demo["datasets"]
    voc["evaluations"] = [{"name": "face_consistency", "params": {"metric": "voc"}}]
    outcome = run(voc | {"output": str(tmp_path / "voc")})
    [(evaluation, _, why)] = outcome.unavailable
    assert evaluation == "face_consistency" and "make install-openmmlab" in why


@pytest.mark.slow
def test_editing_an_editable_plugin_recomputes_only_its_cells(tmp_path, paired_dir):
    pkg = tmp_path / "gefu-editplugin"
    (pkg / "gefu_editplugin").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "gefu-editplugin"
        version = "0.1"
        [project.entry-points."gefu.enhancers"]
        brighter = "gefu_editplugin:Brighter"
        """)
    )
    source = pkg / "gefu_editplugin" / "__init__.py"
    source.write_text(
        textwrap.dedent("""\
        import torch

        class Brighter(torch.nn.Module):
            def forward(self, x):
                return (x * 2.0).clamp(0, 1)
        """)
    )
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(pkg)], check=True
    )
    try:
        data = config(tmp_path, paired_dir, ["identity", "brighter"])
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
        cmd = [*GEFU, "run", str(tmp_path / "c.yaml"), "--quiet"]
        first = subprocess.run(cmd, capture_output=True, text=True, env=env_with())
        assert "3 cell(s) computed, 0 cached" in first.stdout, first.stdout + first.stderr
        source.write_text(source.read_text().replace("2.0", "3.0"))
        second = subprocess.run(cmd, capture_output=True, text=True, env=env_with())
        assert "1 cell(s) computed, 2 cached" in second.stdout, second.stdout + second.stderr
    finally:
        subprocess.run([*pip, "uninstall", "-y", "gefu-editplugin"], check=True)
