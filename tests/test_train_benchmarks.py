"""The training-speed benchmarks' own machinery (their figures live in the README)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import train_step_gpu  # noqa: E402
import train_vs_official  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """A release's step builds a bf16 ``Accelerator``, whose process-wide state would refuse
    the next test's own settings: forget it afterwards, as ``gefu.train.loop`` does."""
    yield
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


def test_suite_step_trains_at_an_overridden_shape_with_clipping():
    step, config, modules = train_step_gpu.build_step("zero_dce", "cpu", batch=1, crop=16)
    assert (config.batch_size, config.data["crop"], config.grad_clip) == (1, 16, 0.1)
    before = [p.detach().clone() for p in modules["model"].parameters()]
    step()
    assert any(not torch.equal(a, b) for a, b in zip(modules["model"].parameters(), before))


def test_official_code_is_imported_on_a_cpu_and_forgotten(tmp_path):
    (tmp_path / "released_module_xyz.py").write_text("import torch\nONES = torch.ones(2).cuda()\n")
    cuda = torch.Tensor.cuda
    with train_vs_official.official_code(tmp_path, torch.device("cpu")):
        import released_module_xyz

        assert released_module_xyz.ONES.device.type == "cpu"
    assert "released_module_xyz" not in sys.modules
    assert torch.Tensor.cuda is cuda and str(tmp_path) not in sys.path


def test_methods_without_official_code_are_skipped(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["x", "--official", str(tmp_path)])  # all methods
    assert train_vs_official.main() == 0
    assert capsys.readouterr().out.count("no official code") == len(train_vs_official.METHODS)
    monkeypatch.setattr(sys, "argv", ["x", "--official", str(tmp_path), "zero_dcee"])
    with pytest.raises(SystemExit):
        train_vs_official.main()


OFFICIAL = Path(os.environ.get("GEFU_OFFICIAL_CODE", "/work/official"))


@pytest.mark.skipif(
    not (OFFICIAL / "zero_dce" / "Zero-DCE_code").is_dir(),
    reason="needs github.com/Li-Chongyi/Zero-DCE at $GEFU_OFFICIAL_CODE/zero_dce",
)
def test_zero_dce_official_and_suite_steps_compare():
    r = train_vs_official.compare("zero_dce", OFFICIAL / "zero_dce", 1, 16, 1, torch.device("cpu"))
    assert r["official"] > 0 and r["suite"] > 0
    assert r["ratio"] == pytest.approx(r["suite"] / r["official"])


def test_stubbed_modules_raise_when_called_and_loaded_ones_come_back(tmp_path):
    import json

    with train_vs_official.official_code(tmp_path, torch.device("cpu")):
        with train_vs_official.stub_modules(pkg_xyz={}, pkg_xyz__sub={"loader": None}, json={}):
            from pkg_xyz.sub import loader

            assert not hasattr(sys.modules["json"], "dumps")
        with pytest.raises(RuntimeError, match="not available"):
            loader()
    assert "pkg_xyz" not in sys.modules and "pkg_xyz.sub" not in sys.modules
    assert sys.modules["json"] is json


def test_the_scan_given_to_semi_llies_release_equals_the_step_by_step_loop():
    from gefu.methods.semi_llie.mamba_scan import naive_scan

    g = torch.Generator().manual_seed(0)
    b, k, d, n, length = 1, 4, 3, 4, 10  # the release's layout: B, C as [b, k, d_state, l]
    u, delta = (torch.randn(b, k * d, length, generator=g) for _ in range(2))
    A = -torch.rand(k * d, n, generator=g)
    B, C = (torch.randn(b, k, n, length, generator=g) for _ in range(2))
    D, bias = torch.randn(k * d, generator=g), torch.randn(k * d, generator=g)
    out = train_vs_official.selective_scan_fn(
        u, delta, A, B, C, D, z=None, delta_bias=bias, delta_softplus=True, return_last_state=False
    )
    ref = naive_scan(u, delta, A, B, C, D, delta_bias=bias, delta_softplus=True)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(NotImplementedError):
        train_vs_official.selective_scan_fn(u, delta, A, B, C, return_last_state=True)


@pytest.mark.parametrize(
    ("name", "marker", "size"),
    [("zero_dce_pp", "Zero-DCE++", 16), ("hvr_ssle", "models/HVR.py", 32)],  # LPIPS: >= 32
)
def test_official_and_suite_steps_compare(name, marker, size):
    if not (OFFICIAL / name / marker).exists():
        pytest.skip(f"needs the {name} release at $GEFU_OFFICIAL_CODE/{name}")
    r = train_vs_official.compare(name, OFFICIAL / name, 1, size, 1, torch.device("cpu"))
    assert r["official"] > 0 and r["suite"] > 0


@pytest.mark.skipif(
    not (OFFICIAL / "semi_llie" / "trainer_with_grad.py").is_file()
    or not (OFFICIAL / "_deps" / "adamp").is_dir(),
    reason="needs github.com/guanguanboy/Semi-LLIE at $GEFU_OFFICIAL_CODE/semi_llie and AdamP "
    "in $GEFU_OFFICIAL_CODE/_deps",
)
def test_semi_llie_release_runs_on_the_suites_scan_beside_the_suite():
    loaded = sys.modules.get("mamba_ssm")
    r = train_vs_official.compare(
        "semi_llie",
        OFFICIAL / "semi_llie",
        1,
        8,
        1,
        torch.device("cpu"),
        train_vs_official.SMALL_RAM,
    )
    assert r["official"] > 0 and r["suite"] > 0
    assert sys.modules.get("mamba_ssm") is loaded  # the stand-in is forgotten
