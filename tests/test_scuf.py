"""SCUF on tiny random components (CPU)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

# the bundled photos darkened on the fly (the training default of most methods)
BUNDLED = {"name": "bundled_photos", "params": {"max_side": None}}
DARK_BUNDLED = {
    "name": "darkened",
    "params": {"dataset": BUNDLED, "model": "physical", "severity": "random"},
}
SCUF_DATA = {"low": DARK_BUNDLED, "normal": BUNDLED}


LOSS_KEYS = {
    "cycle_a",
    "ref_a",
    "caption_a",
    "cycle_b",
    "ref_b",
    "caption_b",
    "gan",
    "identity",
    "identity_ref",
    "identity_caption",
    "disc_fake",
    "disc_real",
    "total",
}
TINY = "configs/train/scuf_tiny.yaml"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny ops: multi-threading only adds synchronisation (see SCUFConfig.cpu_threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model():
    from gefu.methods.scuf.network import SCUF

    return SCUF(base="tiny", clip="tiny").eval()


def test_zeroed_image_branch_is_the_stock_unet():
    from gefu.methods.scuf import components as C
    from gefu.methods.scuf.attention import install_cycle_attention

    unet, *_ = C.load_base("tiny")
    z, t = torch.randn(1, 4, 8, 8), torch.tensor([999])
    text = torch.randn(1, 16, 16)
    base = unet(z, t, encoder_hidden_states=text).sample
    install_cycle_attention(unet, 4, add_input=False)
    for p in unet.attn_processors.values():
        if hasattr(p, "to_v_ca"):
            torch.nn.init.zeros_(p.to_v_ca.weight)
    out = unet(z, t, encoder_hidden_states=torch.cat([text, torch.randn(1, 4, 16)], 1)).sample
    assert torch.equal(out, base)
    torch.nn.init.normal_(
        next(p for p in unet.attn_processors.values() if hasattr(p, "to_v_ca")).to_v_ca.weight
    )
    out = unet(z, t, encoder_hidden_states=torch.cat([text, torch.randn(1, 4, 16)], 1)).sample
    assert not torch.allclose(out, base)


def test_only_intended_parameters_train(model):
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all(
        ("lora_" in n or ".processor." in n or n.startswith("prompt_proj.")) for n in names
    )
    assert not any(n.startswith(("text_encoder.", "clip_vision.")) for n in names)
    assert any(".processor.to_k_ca" in n for n in names)
    assert any("skip_conv_1.lora_A" in n for n in names)


def test_inference_shape_range_and_round_trip(model, tmp_path):
    from gefu.methods.scuf.network import SCUF

    x = torch.rand(1, 3, 21, 30)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    with torch.no_grad():
        for p in model.prompt_proj.parameters():
            p.add_(0.1)
        torch.manual_seed(0)  # latents are sampled at inference, as released
        y = model(x)
    model.save_pretrained(tmp_path / "ckpt")
    back = SCUF.from_pretrained(tmp_path / "ckpt")
    with torch.no_grad():
        torch.manual_seed(0)
        assert torch.allclose(back(x), y, atol=1e-6)


def test_losses_hand_values():
    from gefu.methods.scuf import losses as L

    x = torch.rand(1, 3, 16, 16)
    assert float(L.ssim(x, x)) == pytest.approx(1.0, abs=1e-5)
    z = torch.randn(2, 4, 3, 3)
    assert float(L.caption_consistency(z, z)) == pytest.approx(0.0, abs=1e-6)
    assert float(L.caption_consistency(z, -z)) == pytest.approx(2.0, abs=1e-6)
    assert float(L.gan_bce([torch.zeros(3)], True)) == pytest.approx(0.693147, abs=1e-5)
    assert float(L.reflectance_agreement(torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))) == 1.0


def test_parameter_counts_tiny():
    from gefu.methods.scuf.network import parameter_counts

    c = parameter_counts("tiny")
    assert c["text_encoder"]["trainable"] == 0 and c["total"]["trainable"] > 0


def test_training_step_has_every_loss_and_the_loss_falls():
    from gefu.train.config import build_method, load_train_config

    method, sets = build_method(load_train_config(TINY))
    modules = method.modules()
    optimizers = method.optimizers(modules)

    class Ctx:
        device, step = torch.device("cpu"), 0

        def backward(self, loss, group):
            loss.backward()

        def step_optimizer(self, group):
            opt, scheduler = optimizers[group]
            opt.step()
            opt.zero_grad(set_to_none=True)
            scheduler.step()

    torch.manual_seed(0)
    batch = {
        k: {"image": d[(0, 0)]["image"][None], "caption": ["a photo."]} for k, d in sets.items()
    }
    for m in modules.values():
        m.train()
    totals = []
    for _ in range(24):
        values = method.train_step(batch, Ctx())
        assert set(values) == LOSS_KEYS and all(torch.isfinite(torch.tensor(list(values.values()))))
        totals.append(values["total"])
    assert sum(totals[-3:]) < 0.5 * sum(totals[:3]), totals


def test_train_cli_checkpoint_round_trip_and_runner(tmp_path):
    from gefu.bench.config import validate_config
    from gefu.bench.runner import Runner
    from gefu.cli.main import main
    from gefu.methods.scuf.network import SCUF
    from gefu.train.logging import read_log

    out = tmp_path / "run"
    assert (
        main(["train", "scuf", "--config", TINY, "--output", str(out), "--steps", "2", "--quiet"])
        == 0
    )
    rows = read_log(out / "metrics.csv")
    assert {r["name"] for r in rows if r["split"] == "train"} == LOSS_KEYS
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        torch.manual_seed(0)  # latents are sampled at inference, as released
        final = SCUF.from_pretrained(out / "model")(x)
        torch.manual_seed(0)
        assert torch.equal(SCUF.from_pretrained(out / "checkpoints" / "step_2")(x), final)
        assert not torch.allclose(SCUF(base="tiny", clip="tiny").eval()(x), final)

    photos = {
        "name": "darkened",
        "limit": 1,
        "params": {"dataset": {"name": "bundled_photos", "params": {"max_side": 32}}},
    }
    config = validate_config(
        {
            "name": "scuf_tiny",
            "output": str(tmp_path / "results"),
            "device": "cpu",
            "enhancers": [{"name": "identity"}, {"name": "scuf", "weights": str(out / "model")}],
            "datasets": [photos],
            "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr"]}}],
        }
    )
    outcome = Runner(config, quiet=True).run()
    assert not outcome.failed and outcome.computed


def test_import_released_round_trip_and_refusal(model, tmp_path):
    from gefu.methods.scuf.network import SCUF
    from gefu.methods.scuf.release import ReleasedCheckpointError, to_released_layout

    with torch.no_grad():
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.01)
    layout = to_released_layout(model)
    adapter_keys = list(layout["ca_adapter"])
    assert adapter_keys and all(k.split(".")[0].isdigit() for k in adapter_keys)
    assert "vae.decoder.skip_conv_1.lora_A.vae_skip.weight" in layout["sd_vae_enc"]
    torch.save(layout, tmp_path / "model_1001.pkl")
    imported = SCUF.from_pretrained(tmp_path / "model_1001.pkl", base="tiny", clip="tiny")
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        torch.manual_seed(0)  # latents are sampled at inference, as released
        y = imported(x)
        torch.manual_seed(0)
        assert torch.equal(y, model(x))
    assert all(
        torch.equal(v, model.trained_state_dict()[k])
        for k, v in imported.trained_state_dict().items()
    )

    torch.save({"rank_vae": 4, "hook": _Arbitrary()}, tmp_path / "evil.pkl")
    with pytest.raises(ReleasedCheckpointError, match="weights_only=True"):
        SCUF.from_pretrained(tmp_path / "evil.pkl", base="tiny", clip="tiny")
    torch.save({"rank_vae": 4}, tmp_path / "partial.pkl")
    with pytest.raises(ReleasedCheckpointError, match="missing"):
        SCUF.from_pretrained(tmp_path / "partial.pkl", base="tiny", clip="tiny")


def test_weights_import_converts_the_released_pkl(model, tmp_path):
    from gefu.cli.main import main
    from gefu.enhancers import create_enhancer
    from gefu.methods.scuf.release import to_released_layout

    torch.save(to_released_layout(model), tmp_path / "test_model.pkl")
    args = ["weights", "import", "scuf", str(tmp_path / "test_model.pkl"), str(tmp_path / "ck")]
    assert main([*args, "--param", "base=tiny", "--param", "clip=tiny"]) == 0
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["imported_from"]["release"] == "scuf.official"
    loaded = create_enhancer("scuf", weights=str(tmp_path / "ck"))
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        torch.manual_seed(0)  # the posterior is sampled from the global RNG, as released
        out = loaded(x)
        torch.manual_seed(0)
        assert torch.equal(out, model(x))


class _Arbitrary:
    """Not a tensor or container: weights_only unpickling must refuse it."""


def test_captions_command_writes_what_scuf_training_reads(tmp_path, monkeypatch):
    """The CSV layout round-trips into SCUF's reader; a missing model is a clear error."""
    import numpy as np
    from PIL import Image

    from gefu.cli import captions
    from gefu.cli.main import main
    from gefu.methods.scuf.recipe import read_captions

    for name in ("a.png", "b.jpg"):
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(tmp_path / name)
    (tmp_path / "broken.png").write_bytes(b"")
    monkeypatch.setattr(
        captions, "load_captioner", lambda model, device: lambda a: f"grey {a.shape[0]}px"
    )
    assert main(["captions", str(tmp_path), str(tmp_path / "c.csv")]) == 1  # broken.png
    assert read_captions(tmp_path / "c.csv") == {"a.png": "grey 8px", "b.jpg": "grey 8px"}

    def offline(model, device):
        raise OSError("not found offline")

    monkeypatch.setattr(captions, "load_captioner", offline)
    assert main(["captions", str(tmp_path), str(tmp_path / "d.csv")]) == 2


def test_inference_samples_latents_by_default_as_released(model):
    from gefu.methods.scuf.network import DARK_PROMPT, SCUF

    released = (
        "low light, dim lighting, low illumination, underexposed, ambient shadows, "
        "subdued light, silhouetted, dark atmosphere photo."
    )
    assert released == DARK_PROMPT
    assert model.hparams["sample_latents"] is True
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))  # a posterior draw per call
        mean = SCUF(base="tiny", clip="tiny", sample_latents=False).eval()
        mean.load_state_dict(model.trained_state_dict())
        assert torch.equal(mean(x), mean(x))  # the posterior mean


def test_training_defaults_follow_the_release(tmp_path):
    import os
    from pathlib import Path

    from gefu.methods.scuf.recipe import SCUFConfig, SCUFTraining, warmup_factor

    c = SCUFConfig()
    assert c.warmup == 0 and c.sample_latents and c.retinexnet.endswith("decomp.pth")
    assert [warmup_factor(s, 0) for s in (0, 1, 499)] == [1.0, 1.0, 1.0]  # constant
    assert [warmup_factor(s, 4) for s in (0, 1, 3, 9)] == [0.25, 0.5, 1.0, 1.0]
    missing = SCUFTraining(SCUFConfig(retinexnet=str(tmp_path / "nope.pth")), SCUF_DATA)
    with pytest.raises(FileNotFoundError, match="wangsen99/GEFU"):
        missing.teachers("cpu")
    root = Path(
        os.environ.get("GEFU_RELEASED_DIR", Path(__file__).parents[2] / "shared" / "released")
    )
    released = root / "retinexnet" / "decomp.pth"
    if not released.is_file():
        pytest.skip(f"the released decomp.pth is not at {released} (set GEFU_RELEASED_DIR)")
    method = SCUFTraining(SCUFConfig(retinexnet=str(released), lpips_weights=None), SCUF_DATA)
    with pytest.warns(UserWarning, match="LPIPS"):
        decom, _ = method.teachers("cpu")
    r, i = decom(torch.full((1, 3, 8, 8), 0.5))[:2]
    assert r.shape == (1, 3, 8, 8) and not any(p.requires_grad for p in decom.parameters())
