"""HVR-SSLE: architecture, recursion, degradation, losses and a CPU training run."""

from __future__ import annotations

import csv

import pytest
import torch

from gefu.methods.hvr_ssle import recipe as M
from gefu.methods.hvr_ssle import train_data as D
from gefu.methods.hvr_ssle.network import HVRSSLE

TINY = dict(dim=8, features=8, groups=2, depths=[2], heads=[2], window=4)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_parameter_count_is_the_released_architecture():
    # 353,763 = the released model (96 embed + 302,328 UNet++ + 51,264 Swin + 75 head);
    # the paper's "0.34M" is 353,763 / 2**20 = 0.337.
    model = HVRSSLE()
    assert model.num_parameters == 353_763
    parts = {n: sum(p.numel() for p in m.parameters()) for n, m in model.named_children()}
    assert parts == {"embed": 96, "l_net": 302_328, "h_net": 51_264, "head": 75}


def test_odd_sizes_keep_shape_and_range_and_are_deterministic():
    torch.manual_seed(0)
    model = HVRSSLE(**TINY, z_seed=0).eval()
    x = torch.rand(2, 3, 13, 22)
    y = model(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert torch.equal(y, model(x))  # seeded latents
    other = HVRSSLE(**TINY, z_seed=1).eval()
    other.load_state_dict(model.state_dict())
    assert not torch.equal(y, other(x))  # the latents come from z_seed
    fresh = HVRSSLE(**TINY, z_seed=None).eval()  # the release: new latents on every call
    fresh.load_state_dict(model.state_dict())
    torch.manual_seed(5)
    first = fresh(x)
    assert not torch.equal(first, fresh(x))
    torch.manual_seed(5)
    assert torch.equal(first, fresh(x))  # drawn from the global RNG


def test_default_latents_are_fresh_draws_as_released():
    model = HVRSSLE(**TINY).eval()
    assert model.z_seed is None and model.hparams["z_seed"] is None
    x = torch.rand(1, 3, 8, 8)
    torch.manual_seed(3)
    a, b = model(x), model(x)
    assert not torch.equal(a, b)  # a new draw per call
    torch.manual_seed(3)
    assert torch.equal(a, model(x))  # drawn from the global RNG


def test_full_model_runs_on_an_odd_size():
    y = HVRSSLE().eval()(torch.rand(1, 3, 9, 11))
    assert y.shape == (1, 3, 9, 11) and torch.isfinite(y).all()


def test_only_the_last_step_of_a_segment_carries_gradient():
    torch.manual_seed(0)
    model = HVRSSLE(**TINY, T=2, C=2)
    calls = []
    for name in ("l_net", "h_net"):
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: calls.append((name, torch.is_grad_enabled()))
        )
    (zh, zl), out = model.segment(torch.rand(1, 3, 8, 8) * 2 - 1)
    # T*C = 4 L updates and C = 2 H updates; only the final L/H pair with gradient
    assert calls == [
        ("l_net", False),
        ("l_net", False),
        ("h_net", False),
        ("l_net", False),
        ("l_net", True),
        ("h_net", True),
    ]
    out.mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert out.min() >= -1 and out.max() <= 1 and zh.shape == (1, 8, 8, 8)


def test_sample_counts_steps_from_T_C_and_n_supervision():
    model = HVRSSLE(**TINY).eval()
    calls = []
    model.l_net.register_forward_hook(lambda *a: calls.append("L"))
    model.h_net.register_forward_hook(lambda *a: calls.append("H"))
    x = torch.rand(1, 3, 8, 8)
    for (T, C, n), (n_l, n_h) in {
        (2, 2, 2): (8, 4),
        (3, 1, 1): (3, 1),
        (0, 2, 0): (1, 2),
        (2, 0, 0): (2, 1),
        (2, 2, -1): (1, 1),
    }.items():
        calls.clear()
        model.sample(x, T=T, C=C, n_supervision=n)
        assert (calls.count("L"), calls.count("H")) == (n_l, n_h), (T, C, n)


# -- degradation -------------------------------------------------------------------------------
def test_gamma_degradation_range_monotonic_and_seeded():
    ramp = torch.linspace(0, 1, 256).expand(3, 4, 256).contiguous()
    off = D.HVRDegradation(blur_p=0, mask_p=0, fill_noise_p=0)
    for seed in range(20):
        low = D.degrade(ramp, torch.Generator().manual_seed(seed), off)
        assert low.min() >= 0 and low.max() <= 1
        assert (low.diff(dim=-1) >= 0).all()  # the curve is monotonic
        assert low.mean() <= ramp.mean()  # e >= 1, C x^e <= x: never brighter
    full = D.HVRDegradation(blur_p=1, mask_p=1, mask_noise_p=1, fill_noise_p=1)
    img = torch.rand(3, 32, 40)
    a = D.degrade(img, torch.Generator().manual_seed(3), full)
    assert torch.equal(a, D.degrade(img, torch.Generator().manual_seed(3), full))
    assert not torch.equal(a, D.degrade(img, torch.Generator().manual_seed(4), full))
    assert torch.equal(a, torch.floor(a * 255) / 255)  # 8-bit values


def test_black_squares_cover_about_the_requested_share():
    img = torch.ones(3, 60, 60)
    cfg = D.HVRDegradation(mask_black_p=1.0)
    out = D.random_squares(img, torch.Generator().manual_seed(0), cfg)
    black = (out == 0).all(0).float().mean()
    # released count rule: int(10% of 3600 / 1.5**2) = 160 squares of mean area 2.5 = 11.1%
    # drawn; overlaps remove a little
    assert 0.09 < black < 0.111


def test_defocus_and_down_up_keep_a_constant_image():
    flat = torch.full((3, 20, 24), 0.4)
    assert torch.allclose(D.defocus(flat, 3, 0.2), flat, atol=1e-6)
    assert torch.allclose(D.down_up(flat), flat, atol=1e-6)


# -- losses ------------------------------------------------------------------------------------
def test_loss_terms_by_hand():
    grey = torch.full((1, 3, 2, 2), 0.5)
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 0.8
    assert M.saturation_loss(grey, grey * 0.3) == 0  # grey: saturation 0 at any level
    assert torch.allclose(M.saturation(red), torch.ones(1, 1, 2, 2), atol=1e-5)
    assert torch.allclose(M.saturation_loss(red, grey), torch.tensor(1.0), atol=1e-5)
    # red 0.8: Y = 0.2392, Cb = -0.2392, Cr = 0.5608; grey: 0 and 0
    assert torch.allclose(M.chroma_loss(red, grey), torch.tensor(0.8), atol=1e-5)
    assert M.chroma_loss(grey, grey * 0.2) == 0
    assert torch.allclose(M.mae_loss(grey, red), torch.tensor((0.3 + 0.5 + 0.5) / 3))


def test_total_loss_weights_and_lpips_switch(monkeypatch):
    method = M.HVRSSLETraining(M.HVRSSLEConfig(w_lpips=0.0), {})
    pred, target = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), -1.0)
    terms = method.losses(pred, target)
    assert "lpips" not in terms and torch.isclose(terms["total"], torch.tensor(1.0))
    monkeypatch.setattr(M, "lpips_weights_present", lambda hub_dir=None: False)
    with pytest.warns(UserWarning, match="LPIPS term disabled"):
        assert M.make_lpips("cpu") is None


def test_schedule_warms_up_decays_and_restarts():
    cfg = M.HVRSSLEConfig()
    f = [M.lr_factor(s, 1000, cfg) for s in range(1000)]
    assert f[0] == pytest.approx(1 / 50) and f[49] == pytest.approx(1.0)
    assert f[498] < 1e-3 and max(f[500:]) == pytest.approx(0.2)
    assert M.lr_factor(1000, 1000, cfg) == pytest.approx(1e-9 / 5e-4)


# -- training ----------------------------------------------------------------------------------
def test_training_lowers_the_loss_and_runs_in_the_benchmark(tmp_path):
    from conftest import write_photo
    from gefu.bench.config import validate_config
    from gefu.bench.runner import Runner
    from gefu.train.config import validate_train_config
    from gefu.train.loop import train

    for i in range(3):
        write_photo(tmp_path / "photos" / f"p{i}.png", (40, 48), seed=i)
    cfg = {
        "method": "hvr_ssle",
        "steps": 50,
        "batch_size": 4,
        "device": "cpu",
        "log_every": 1,
        "checkpoint_every": 25,
        "output": str(tmp_path / "run"),
        "data": {
            "dataset": {"name": "unpaired_folder", "root": str(tmp_path / "photos")},
            "crop": 16,
        },
        "params": {**TINY, "lr": 5e-3, "w_lpips": 0.0, "schedule_steps": 50},
    }
    result = train(validate_train_config(cfg), quiet=True)
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    totals = [float(r["value"]) for r in rows if r["split"] == "train" and r["name"] == "total"]
    assert len(totals) == 50
    assert sum(totals[-10:]) < 0.9 * sum(totals[:10])  # observed: 0.83

    model = HVRSSLE.from_pretrained(result.model_dir)
    assert model.hparams["dim"] == 8
    bench = {
        "name": "t",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "batch_size": 2,
        "enhancers": [{"name": "hvr_ssle", "weights": str(result.model_dir)}],
        "datasets": [
            {
                "name": "darkened",
                "params": {
                    "dataset": {"name": "unpaired_folder", "root": str(tmp_path / "photos")},
                    "model": "gamma_curve",
                },
            }
        ],
        "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr"]}}],
    }
    outcome = Runner(validate_config(bench), quiet=True).run()
    assert not outcome.failed and outcome.computed


class _Ctx:
    """A one-process StepContext for calling ``train_step`` directly."""

    def __init__(self, opt):
        self.opt, self.step, self.device = opt, 0, torch.device("cpu")

    def backward(self, loss, group):
        loss.backward()

    def step_optimizer(self, group):
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)


def test_micro_batches_accumulate_to_the_whole_batch_update(monkeypatch):
    # 4 images in one go, or as 2 accumulated chunks of 2: the same two optimiser updates
    # (zero initial latents so that both see the same ones; SGD so the update is the gradient)
    monkeypatch.setattr(
        HVRSSLE,
        "init_latents",
        lambda self, x, generator=None: (x.new_zeros(len(x), self.dim, *x.shape[-2:]),) * 2,
    )
    torch.manual_seed(0)
    batch = {"train": {"low": torch.rand(4, 3, 8, 8) * 0.3, "normal": torch.rand(4, 3, 8, 8)}}
    weights = []
    for micro in (None, 2):
        cfg = M.HVRSSLEConfig(**TINY, w_lpips=0.0, micro_batch=micro)
        method = M.HVRSSLETraining(cfg, {})  # the bundled photos
        model = method.modules()["model"]
        torch.manual_seed(1)
        for p in model.parameters():
            p.data = torch.randn_like(p) * 0.1
        logs = method.train_step(batch, _Ctx(torch.optim.SGD(model.parameters(), lr=0.5)))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
        assert set(logs) >= {"mae", "total"}
    assert torch.allclose(weights[0], weights[1], atol=1e-6)
    assert not torch.equal(weights[0], torch.zeros_like(weights[0]))


def test_paper_config_is_the_released_global_batch_and_steps():
    import yaml

    from conftest import REPO

    data = yaml.safe_load((REPO / "configs" / "train" / "hvr_ssle.yaml").read_text())
    assert data["steps"] == 69_300 == data["params"]["schedule_steps"] == 300 * 231
    assert data["batch_size"] == 512 and data["params"]["micro_batch"] == 64


def test_compile_defaults_to_the_release_and_can_be_turned_off():
    from gefu.train.config import validate_train_config
    from gefu.train.loop import compile_backend
    from gefu.train.method import TrainMethod

    def backend(method, value):
        data = {"method": method, "steps": 1}
        if value != "unset":
            data["compile"] = value
        return compile_backend(
            M.HVRSSLETraining if method == "hvr_ssle" else TrainMethod, validate_train_config(data)
        )

    assert backend("hvr_ssle", "unset") == "inductor"  # released under torch.compile
    assert backend("zero_dce", "unset") is None
    assert backend("hvr_ssle", False) is None
    assert backend("zero_dce", "eager") == "eager"


def test_compiled_segment_matches_eager_and_keeps_state_dict_keys():
    torch.manual_seed(0)
    eager = HVRSSLE(dim=8, features=8, depths=(1,), heads=(2,), window=4)
    compiled = HVRSSLE(dim=8, features=8, depths=(1,), heads=(2,), window=4)
    compiled.load_state_dict(eager.state_dict())
    method = M.HVRSSLETraining.__new__(M.HVRSSLETraining)
    method.compile_modules({"model": compiled}, backend="eager")  # dynamo, no code generation
    assert compiled.l_net._compiled_call_impl is not None
    assert list(compiled.state_dict()) == list(eager.state_dict())
    x = torch.rand(1, 3, 12, 12) * 2 - 1
    grads = []
    for model in (eager, compiled):
        z = model.init_latents(x, torch.Generator().manual_seed(1))
        _, out = model.segment(x, z)
        out.square().mean().backward()
        grads.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-6)
    for a, b in zip(grads[0][1], grads[1][1]):
        assert torch.allclose(a, b, atol=1e-6)
