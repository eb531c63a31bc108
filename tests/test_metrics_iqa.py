"""IQA metrics: calibration against pyiqa's published values, facts parity, offline behaviour."""

from __future__ import annotations

import hashlib
import importlib.util
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from gefu.io import read_image
from gefu.metrics import METRICS, create_metric
from gefu.metrics.iqa import NIQE_PARAMS, SPECS, MetricUnavailable, weights_dir

# pyiqa's wheel installs its five calibration pairs (LIVE images, 384x512 .bmp, 5.7 MB) as a
# top-level "ResultsCalibra" folder in site-packages; they are not copied into this repository.
CALIBRA = Path(importlib.util.find_spec("pyiqa").origin).parents[1] / "ResultsCalibra"
IMAGES = ("I03", "I04", "I06", "I08", "I19")

# The "(ours)" rows of ResultsCalibra/calibration_summary.csv in the pyiqa repository
# (chaofengc/IQA-PyTorch): pyiqa's own values on dist_dir/<image>.bmp against ref_dir/<image>.bmp.
PUBLISHED = {
    "psnr": (21.1136, 20.9872, 27.0139, 23.3002, 21.6186),
    "ssim": (0.6997, 0.9978, 0.9989, 0.9671, 0.6522),
    "ms_ssim": (0.6707, 0.9996, 0.9998, 0.9567, 0.8418),
    "piqe": (100.0, 21.6242, 35.8646, 41.147, 76.9485),
    "niqe": (15.6538, 3.6549, 3.2342, 3.1921, 9.0722),  # with our shipped LIVE parameters
}
OFFLINE_UNAVAILABLE = ("lpips", "brisque", "musiq", "clipiqa")


@pytest.fixture(scope="module")
def calibration_pairs():
    if not (CALIBRA / "dist_dir").is_dir():
        pytest.skip(f"pyiqa's calibration images are not installed at {CALIBRA}")
    dist = torch.stack([read_image(CALIBRA / "dist_dir" / f"{n}.bmp") for n in IMAGES])
    ref = torch.stack([read_image(CALIBRA / "ref_dir" / f"{n}.bmp") for n in IMAGES])
    return dist, ref


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_calibration_matches_published_values(name, calibration_pairs):
    dist, ref = calibration_pairs
    metric = create_metric(name)
    metric.setup("cpu")
    scores = metric(dist, ref if metric.full_reference else None)
    assert scores.shape == (len(IMAGES),) and scores.dtype == torch.float32
    np.testing.assert_allclose(scores.numpy(), PUBLISHED[name], rtol=1e-3)
    assert metric._model.lower_better == metric.lower_better  # pyiqa's instance agrees


def test_specs_cover_the_registry_and_agree_with_pyiqa():
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    iqa_names = {n for n in METRICS.names() if METRICS.origin(n) == "gefu"}
    assert iqa_names == set(SPECS)
    for name, spec in SPECS.items():
        cfg = DEFAULT_CONFIGS[spec.pyiqa_name]
        assert cfg.get("lower_better", False) == spec.lower_better, name
        assert (cfg["metric_mode"] == "FR") == spec.full_reference, name
        pyiqa_defaults = {k: v for k, v in cfg["metric_opts"].items() if k != "type"}
        assert pyiqa_defaults.items() <= spec.options.items(), name
        metric = create_metric(name)
        assert (metric.lower_better, metric.full_reference) == (
            spec.lower_better,
            spec.full_reference,
        )


def test_weight_files_are_the_ones_pyiqa_would_download():
    import torchvision
    from pyiqa.archs import brisque_arch, clip_model, lpips_arch, musiq_arch
    from pyiqa.utils.download_util import DEFAULT_CACHE_DIR

    assert Path(DEFAULT_CACHE_DIR) == weights_dir() / "pyiqa"
    alexnet = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    expected = {
        "lpips": {
            "pyiqa/" + lpips_arch.default_model_urls["0.1_alex"].rsplit("/", 1)[1],
            "checkpoints/" + alexnet.rsplit("/", 1)[1],
        },
        "brisque": {"pyiqa/" + brisque_arch.default_model_urls["url"].rsplit("/", 1)[1]},
        "musiq": {"pyiqa/" + musiq_arch.default_model_urls["koniq10k"].rsplit("/", 1)[1]},
        "clipiqa": {"clip/" + clip_model._MODELS["RN50"].rsplit("/", 1)[1]},
    }
    for name, files in expected.items():
        assert set(SPECS[name].weights) == files, name
    assert all(not s.weights for n, s in SPECS.items() if n not in expected)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty torch hub folder, and any network access fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("a metric tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path


@pytest.mark.parametrize("name", OFFLINE_UNAVAILABLE)
def test_metrics_without_weights_are_unavailable_and_never_download(name, offline):
    metric = create_metric(name)
    reason = metric.unavailable()
    assert reason.startswith("weights not found offline: ")
    assert Path(SPECS[name].weights[0]).name in reason and str(offline) in reason
    with pytest.raises(MetricUnavailable, match=name):
        metric.setup("cpu")
    with pytest.raises(MetricUnavailable, match="weights not found"):
        metric(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))


def test_metric_is_available_once_its_weights_are_on_disk(offline):
    (offline / "hub" / "pyiqa").mkdir(parents=True)
    (offline / "hub" / "pyiqa" / "brisque_svm_weights.pth").write_bytes(b"x")
    assert create_metric("brisque").unavailable() is None
    assert "alexnet" in create_metric("lpips").unavailable()


@pytest.mark.parametrize("name", ["psnr", "psnr_y", "ssim", "ms_ssim", "niqe", "piqe"])
def test_offline_metrics_are_available(name, offline):
    assert create_metric(name).unavailable() is None


def test_niqe_uses_the_shipped_parameters():
    data = NIQE_PARAMS.read_bytes()
    with np.load(NIQE_PARAMS) as params:
        mu, cov = params["mu_pris_param"], params["cov_pris_param"]
    assert mu.shape == (1, 36) and cov.shape == (36, 36)
    metric = create_metric("niqe")
    metric.setup("cpu")
    net = metric._model.net
    np.testing.assert_array_equal(net.mu_pris_param.numpy(), mu.ravel())
    np.testing.assert_array_equal(net.cov_pris_param.numpy(), cov)
    assert metric.spec()["params_sha256"] == hashlib.sha256(data).hexdigest()
    notice = (Path(__file__).parents[1] / "NOTICE").read_text()
    assert hashlib.sha256(data).hexdigest() in notice


def test_spec_names_the_pyiqa_metric():
    spec = create_metric("psnr_y").spec()
    assert spec["name"] == "psnr_y" and spec["pyiqa"] == "psnry" and "pyiqa_version" in spec
    assert "params_sha256" not in spec


@pytest.mark.parametrize(
    ("images", "references", "message"),
    [
        (torch.rand(3, 32, 32), None, r"\[B,3,H,W\]"),
        (torch.rand(1, 1, 32, 32), None, r"\[B,3,H,W\]"),
        (torch.rand(1, 3, 32, 32) * 2, None, r"must be in \[0,1\]"),
        (torch.full((1, 3, 32, 32), float("nan")), None, "NaN"),
        ((torch.rand(1, 3, 32, 32) * 255).to(torch.uint8), None, "float"),
        (torch.rand(1, 3, 32, 32), None, "full-reference"),
        (torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 16), "must match"),
        (torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), "at least 11x11"),
    ],
)
def test_input_errors_are_clear(images, references, message):
    with pytest.raises((ValueError, TypeError), match=message):
        create_metric("ssim")(images, references)


def test_no_reference_metrics_need_their_block_size():
    with pytest.raises(ValueError, match="at least 96x96"):
        create_metric("niqe")(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="at least 16x16"):
        create_metric("piqe")(torch.rand(2, 3, 8, 8))


def test_degenerate_images_raise_instead_of_crashing_the_batch():
    batch = torch.rand(2, 3, 96, 96)
    batch[1] = 0.001  # rounds to a constant 8-bit luma
    with pytest.raises(
        ValueError, match=r"niqe cannot score image\(s\) \[1\] of the batch: undefined"
    ):
        create_metric("niqe")(batch)
    batch[1] = 0.0
    with pytest.raises(ValueError, match=r"piqe is not finite for image\(s\) \[1\]"):
        create_metric("piqe")(batch)
    assert torch.isfinite(create_metric("niqe")(batch[:1])).all()
