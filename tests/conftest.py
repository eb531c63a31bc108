"""Shared fixtures: tiny image folders and a test plugin visible to subprocesses."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Tests run tiny models: one torch thread avoids oversubscription on small CI machines
    (a tiny convolution measured 31 ms with 2 threads on a loaded 2-core machine, 0.1 ms
    with 1)."""
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("GEFU_THREADS", "1")  # what `gefu` commands run in-process choose


GEFU = [sys.executable, "-m", "gefu.cli.main"]


@pytest.fixture(autouse=True)
def weights_home(tmp_path_factory, monkeypatch) -> Path:
    """Every test (and the processes it starts) gets an empty weights cache of its own and no
    mirror: tests never read or fill the user's cache, nor reach the network for weights."""
    home = tmp_path_factory.mktemp("gefu_home")
    monkeypatch.setenv("GEFU_HOME", str(home))
    monkeypatch.delenv("GEFU_WEIGHTS_MIRROR", raising=False)
    monkeypatch.delenv("GEFU_OFFLINE", raising=False)
    return home / "weights"


def write_photo(path: Path, size=(24, 32), seed=0, scale=1.0) -> np.ndarray:
    """A smooth random colour image (uint8) written to ``path``."""
    rng = np.random.default_rng(seed)
    h, w = size
    base = rng.random((3, 3, 3))
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([base[c, 0, 0] + base[c, 1, 1] * yy + base[c, 2, 2] * xx for c in range(3)], -1)
    img = np.clip(img / img.max() * scale, 0, 1)
    arr = (img * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return arr


@pytest.fixture
def paired_dir(tmp_path) -> Path:
    """``low/`` and ``high/`` with 4 matching pairs (2 sizes, so batching splits)."""
    root = tmp_path / "pairs"
    for i in range(4):
        size = (24, 32) if i < 3 else (20, 20)
        write_photo(root / "high" / f"img{i}.png", size, seed=i)
        write_photo(root / "low" / f"img{i}.png", size, seed=i, scale=0.25)
    return root


PLUGIN = '''
"""Test enhancers that misbehave on purpose, loaded through an entry point."""
import time
import torch
from gefu.enhancers.base import Enhancer
from gefu.tasks.base import MetricInfo, Task

class Sleepy(Enhancer):
    def __init__(self, seconds: float = 0.2):
        super().__init__()
        self.seconds = seconds
    def forward(self, x):
        time.sleep(self.seconds)
        return x.clamp(0, 1) ** 0.5

class Raises(Enhancer):
    def forward(self, x):
        raise RuntimeError("boom on purpose")

class ReturnsNaN(Enhancer):
    def forward(self, x):
        return torch.full_like(x, float("nan"))

class WrongShape(Enhancer):
    def forward(self, x):
        return x[..., :-1, :]

class Noisy(Enhancer):
    """Draws from torch's global RNG, as HVR-SSLE and SCUF do at inference."""
    def forward(self, x):
        return (x + 0.2 * torch.rand_like(x)).clamp(0, 1)

class PlainDCE(torch.nn.Module):
    """A plain nn.Module (not an Enhancer) shaped like DCE-Net: 79,416 parameters."""
    def __init__(self):
        super().__init__()
        c = torch.nn.Conv2d
        self.convs = torch.nn.ModuleList(
            [c(3, 32, 3, padding=1)] + [c(32, 32, 3, padding=1) for _ in range(3)]
            + [c(64, 32, 3, padding=1), c(64, 32, 3, padding=1), c(64, 24, 3, padding=1)]
        )
    def forward(self, x):
        return (x * 1.5).clamp(0, 1)

class _Brightness(Task):
    def metrics(self, dataset=None):
        return [MetricInfo("brightness", False)]
    def spec(self):
        return {"task": type(self).__name__}
    def process(self, enhanced, samples):
        return [{"brightness": float(x.mean())} for x in enhanced]

class Brightness(_Brightness):
    pass

class ComputeRaises(_Brightness):
    def compute(self, records):
        raise ValueError("compute broke on purpose")

class SetupRaises(_Brightness):
    def setup(self, device):
        raise RuntimeError("setup broke on purpose")
'''


@pytest.fixture
def plugin_path(tmp_path) -> Path:
    """A folder that, on sys.path / PYTHONPATH, looks like an installed plugin distribution."""
    root = tmp_path / "plugin_site"
    (root / "gefu_testplugin-0.1.dist-info").mkdir(parents=True)
    (root / "gefu_testplugin.py").write_text(textwrap.dedent(PLUGIN))
    info = root / "gefu_testplugin-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gefu-testplugin\nVersion: 0.1\n")
    (info / "top_level.txt").write_text("gefu_testplugin\n")
    (info / "entry_points.txt").write_text(
        "[gefu.enhancers]\n"
        "sleepy = gefu_testplugin:Sleepy\n"
        "raises = gefu_testplugin:Raises\n"
        "returns_nan = gefu_testplugin:ReturnsNaN\n"
        "wrong_shape = gefu_testplugin:WrongShape\n"
        "plain_dce = gefu_testplugin:PlainDCE\n"
        "noisy = gefu_testplugin:Noisy\n"
        "\n[gefu.tasks]\n"
        "brightness = gefu_testplugin:Brightness\n"
        "compute_raises = gefu_testplugin:ComputeRaises\n"
        "setup_raises = gefu_testplugin:SetupRaises\n"
    )
    return root


@pytest.fixture
def plugin_in_process(plugin_path, monkeypatch) -> Path:
    """The test plugin on this process's path, its entry points scanned afresh; the registries
    are restored afterwards (so tests that do this can run in any order)."""
    from plugin_dist import rescan_plugins

    from gefu.enhancers import ENHANCERS
    from gefu.tasks import TASKS

    monkeypatch.syspath_prepend(str(plugin_path))
    for registry in (ENHANCERS, TASKS):
        rescan_plugins(registry, monkeypatch)
    return plugin_path


def env_with(path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(REPO)] + ([str(path)] if path else []) + [env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
    return env
