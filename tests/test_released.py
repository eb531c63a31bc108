"""The authors' released weights load as they are and reproduce the official outputs.

Tests marked ``released`` read the official files and reference outputs from
``$GEFU_RELEASED_DIR`` (default ``<repository>/../shared/released``; see its README for
provenance) and skip where that folder is absent. The others build state dicts in each
official layout from the suite's own models, with the official key names written out here.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from gefu.cli.main import main
from gefu.enhancers import create_enhancer

RELEASED = Path(os.environ.get("GEFU_RELEASED_DIR", REPO.parent / "shared" / "released"))
needs_released = pytest.mark.skipif(
    not RELEASED.is_dir(),
    reason=f"released checkpoints not found at {RELEASED} (set GEFU_RELEASED_DIR)",
)
# method, file, tolerance against the official output (Zero-DCE++: bilinear resampling)
CASES = [
    ("zero_dce", "Epoch99.pth", 1e-4),
    ("zero_dce_pp", "Epoch99.pth", 1e-3),
    ("scl_lle", "SCL-LLE.pth", 1e-4),
    ("sagc", "base.pth", 1e-4),
]


def official_input(method: str) -> torch.Tensor:
    from PIL import Image

    arr = np.asarray(Image.open(RELEASED / method / "chelsea_input.png"), dtype=np.float32)
    return torch.from_numpy(arr / 255.0).permute(2, 0, 1)[None]


def official_output(method: str) -> np.ndarray:
    return np.load(RELEASED / method / "chelsea_official_output.npy")


@needs_released
@pytest.mark.parametrize(("method", "file", "tol"), CASES)
def test_python_api_reproduces_the_official_output(method, file, tol):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the released file's hash matches: no warning
        model = create_enhancer(method, weights=str(RELEASED / method / file))
    with torch.no_grad():
        out = model(official_input(method))[0].permute(1, 2, 0).numpy()
    ref = official_output(method)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=tol, rtol=0)
    assert abs(out.mean() - ref.mean()) < 1e-5  # e.g. not the wrong curve sign (0.035)


@needs_released
@pytest.mark.parametrize(("method", "file", "tol"), CASES)
def test_gefu_enhance_reproduces_the_official_output(method, file, tol, tmp_path):
    shutil.copy(RELEASED / method / "chelsea_input.png", tmp_path / "chelsea.png")
    weights = str(RELEASED / method / file)
    args = ["enhance", method, str(tmp_path), str(tmp_path / "out"), "--weights", weights]
    assert main([*args, "--device", "cpu", "--format", "npy"]) == 0
    np.testing.assert_allclose(
        np.load(tmp_path / "out" / "chelsea.npy"), official_output(method), atol=tol, rtol=0
    )
    assert main([*args, "--device", "cpu"]) == 0  # 8-bit PNG: within rounding
    from gefu.io import read_image_array

    png = read_image_array(tmp_path / "out" / "chelsea.png")
    np.testing.assert_allclose(png, official_output(method), atol=0.5 / 255 + tol, rtol=0)


@needs_released
def test_released_decomnet_loads_exactly():
    from gefu.methods.retinexnet.network import load_decomnet

    file = RELEASED / "retinexnet" / "decomp.pth"
    official = torch.load(file, map_location="cpu", weights_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decom = load_decomnet(file)
    state = decom.state_dict()
    assert len(state) == len(official) == 14
    renames = {
        "DecomNet.net1_conv0.": "shallow.",
        "DecomNet.net1_convs.": "body.",
        "DecomNet.net1_recon.": "recon.",
    }
    for key, value in official.items():
        prefix = next(p for p in renames if key.startswith(p))
        assert torch.equal(state[renames[prefix] + key[len(prefix) :]], value)


@needs_released
def test_weights_import_writes_a_folder_that_reproduces_the_release(tmp_path, capsys):
    file = RELEASED / "zero_dce_pp" / "Epoch99.pth"
    assert main(["weights", "import", "zero_dce_pp", str(file), str(tmp_path / "ck")]) == 0
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["enhancer"] == "zero_dce_pp" and config["format"] == 2
    assert config["params"]["scale_factor"] == 12
    assert config["imported_from"] == {
        "file": "Epoch99.pth",
        "release": "zero_dce_pp.official",
        "sha256": "ca8855b90df9a80fa4195a831f33d3476b1964f787eb70602797c773067f3b84",
    }
    assert (tmp_path / "ck" / "model.safetensors").is_file()
    model = create_enhancer("zero_dce_pp", weights=str(tmp_path / "ck"))
    with torch.no_grad():
        out = model(official_input("zero_dce_pp"))[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, official_output("zero_dce_pp"), atol=1e-3, rtol=0)


# -- official layouts built from the suite's models (no released files needed) ----------------
def dce_official_layout(model, prefix: str = "") -> dict[str, torch.Tensor]:
    """The authors' DCE-Net keys: e_convK.weight, or e_convK.depth_conv/point_conv.*."""
    out = {}
    for key, value in model.state_dict().items():
        key = key.removeprefix("net.")
        key = key.replace(".depthwise.", ".depth_conv.").replace(".pointwise.", ".point_conv.")
        out[prefix + key] = value.clone()
    return out


OFFICIAL_PREFIX = [("zero_dce", ""), ("scl_lle", ""), ("zero_dce_pp", ""), ("sagc", "module.")]


@pytest.mark.parametrize(("name", "prefix"), OFFICIAL_PREFIX)
def test_official_dce_layouts_load(name, prefix, tmp_path):
    torch.manual_seed(0)
    model = create_enhancer(name)
    torch.save(dce_official_layout(model, prefix), tmp_path / "official.pth")
    loaded = create_enhancer(name, weights=str(tmp_path / "official.pth"))
    x = torch.rand(1, 3, 36, 48)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_plain_and_separable_layouts_are_not_confused(tmp_path):
    torch.save(dce_official_layout(create_enhancer("zero_dce")), tmp_path / "plain.pth")
    with pytest.raises(ValueError, match="depthwise-separable"):
        create_enhancer("zero_dce_pp", weights=str(tmp_path / "plain.pth"))
    torch.save(dce_official_layout(create_enhancer("sagc")), tmp_path / "sep.pth")
    with pytest.raises(ValueError, match="plain"):
        create_enhancer("zero_dce", weights=str(tmp_path / "sep.pth"))


def test_curve_is_the_official_form():
    from gefu.methods.zero_dce.network import apply_curves

    x, r = torch.tensor([[[[0.5]]]]).expand(1, 3, 1, 1), torch.full((1, 3, 1, 1), -1.0)
    # x + r (x^2 - x) = 0.5 - (0.25 - 0.5) = 0.75: a negative r brightens, as released
    assert torch.allclose(apply_curves(x, r, 1), torch.full((1, 3, 1, 1), 0.75))


@pytest.mark.parametrize("name", ["zero_dce", "zero_dce_pp"])
def test_format_1_folders_are_converted_with_a_warning(name, tmp_path):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    model = create_enhancer(name)
    folder = model.save_pretrained(tmp_path / "ck")
    config = json.loads((folder / "config.json").read_text())
    assert config.pop("format") == 2
    (folder / "config.json").write_text(json.dumps(config))
    state = load_file(folder / "model.safetensors")  # what the old sign x + r(x - x^2) needed
    last = "net.e_conv7.pointwise." if name == "zero_dce_pp" else "net.e_conv7."
    save_file(
        {k: -v if k.startswith(last) else v for k, v in state.items()}, folder / "model.safetensors"
    )
    with pytest.warns(UserWarning, match="before format 2"):
        loaded = create_enhancer(name, weights=str(folder))
    x = torch.rand(1, 3, 24, 36)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=1e-6)
    config["format"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="newer"):
        create_enhancer(name, weights=str(folder))


def test_zero_dce_pp_keeps_any_size_and_matches_the_release_on_the_crop():
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = create_enhancer("zero_dce_pp")
    assert model.scale_factor == 12
    x = torch.rand(1, 3, 31, 50)
    with torch.no_grad():
        out, crop = model(x), model(x[..., :24, :48])
        r = torch.tanh(
            model.net(
                F.interpolate(
                    x[..., :24, :48], scale_factor=1 / 12, mode="bilinear", align_corners=False
                )
            )
        )
        r = F.interpolate(r, size=(24, 48), mode="bilinear", align_corners=True)
    assert out.shape == x.shape
    assert torch.equal(out[..., :24, :48], crop)  # the release's computation on the crop
    full = model.curves(x)
    assert torch.allclose(full[..., :24, :48], r)
    assert torch.equal(full[..., 30, 49], full[..., 23, 47])  # border: the edge's curve
    with pytest.raises(ValueError, match="smaller than scale_factor 12"):
        model(torch.rand(1, 3, 10, 40))


def test_sagc_power_of_zero_is_zero_as_released():
    model = create_enhancer("sagc")
    x = torch.zeros(1, 3, 8, 8)
    x[..., 4:, :] = 0.3
    with torch.no_grad():
        out = model(x)
    assert (out[..., :4, :] == 0).all()


def test_hash_mismatch_still_loads_and_names_the_expected_hash(tmp_path, capsys):
    torch.manual_seed(0)
    model = create_enhancer("zero_dce")
    file = tmp_path / "Epoch99.pth"  # the release's file name, other contents
    torch.save(dce_official_layout(model), file)
    expected = "a4395acb874f320375d9704997cef874eaaaaa26a1777ceb29a92b70f74c3612"
    with pytest.warns(UserWarning, match=f"expected {expected}"):
        loaded = create_enhancer("zero_dce", weights=str(file))
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert main(["weights", "import", "zero_dce", str(file), str(tmp_path / "ck")]) == 0
    assert expected in capsys.readouterr().err
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["imported_from"]["release"] == "zero_dce.official"
    assert config["imported_from"]["sha256"] != expected


def test_weights_list_names_every_release(capsys):
    from gefu.enhancers.released import RELEASES

    assert main(["weights", "list"]) == 0
    text = capsys.readouterr().out
    for release in RELEASES.values():
        assert release.name in text and release.licence in text
    assert "ca8855b90df9a80fa4195a831f33d3476b1964f787eb70602797c773067f3b84" in text
    assert "multiple of 12" in text and "times 1.5" in text
    assert main(["weights", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    sagc = next(r for r in rows if r["name"] == "sagc.base")
    assert sagc["gain"] == 1.5 and sagc["url"].startswith("https://github.com/georgepan900530/")
    assert {r["enhancer"] for r in rows} >= {
        "zero_dce",
        "zero_dce_pp",
        "scl_lle",
        "sagc",
        "hvr_ssle",
        "semi_llie",
        "scuf",
        None,
    }


def test_release_params_are_the_enhancer_defaults():
    from gefu.enhancers import ENHANCERS
    from gefu.enhancers.released import RELEASES

    for release in RELEASES.values():
        if release.enhancer and release.params:
            model = ENHANCERS.get(release.enhancer)()
            for key, value in release.params.items():
                assert model.hparams[key] == value, (release.name, key)


def test_weights_import_errors_are_clear(tmp_path, capsys):
    torch.save(dce_official_layout(create_enhancer("zero_dce")), tmp_path / "w.pth")
    assert (
        main(["weights", "import", "zero_dce_pp", str(tmp_path / "w.pth"), str(tmp_path / "o")])
        == 2
    )
    assert "depthwise-separable" in capsys.readouterr().err
    assert (
        main(["weights", "import", "zero_dcee", str(tmp_path / "w.pth"), str(tmp_path / "o")]) == 2
    )
    assert "zero_dce" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_benchmark_config_names_an_official_file(tmp_path, paired_dir):
    from gefu.bench.config import validate_config
    from gefu.bench.runner import Runner

    torch.save(dce_official_layout(create_enhancer("zero_dce")), tmp_path / "official.pth")
    config = validate_config(
        {
            "name": "t",
            "output": str(tmp_path / "results"),
            "device": "cpu",
            "batch_size": 2,
            "enhancers": [{"name": "zero_dce", "weights": str(tmp_path / "official.pth")}],
            "datasets": [{"name": "paired_folder", "root": str(paired_dir)}],
            "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr"]}}],
        }
    )
    result = Runner(config, quiet=True).run()
    assert not result.failed and {c.enhancer for c in result.computed} >= {"zero_dce"}


# -- HVR-SSLE: the released HVR.safetensors layout ---------------------------------------------
HVR_NAMES = [  # this suite's key -> the release's ``HVR`` module's, applied in order
    (r"^l_net\.out\.", "L_net_model.final_conv."),
    (r"^l_net\.(conv\d_\d)\.", r"L_net_model.\1.conv."),
    (r"^h_net\.embed\.", "H_net_model.patch_embed.proj."),
    (r"^h_net\.embed_norm\.", "H_net_model.patch_embed.norm."),
    (r"^h_net\.groups\.(\d)\.blocks\.(\d)\.mlp\.0\.", r"h_net.groups.\1.blocks.\2.mlp.fc1."),
    (r"^h_net\.groups\.(\d)\.blocks\.(\d)\.mlp\.2\.", r"h_net.groups.\1.blocks.\2.mlp.fc2."),
    (r"^h_net\.groups\.(\d)\.blocks\.", r"H_net_model.layers.\1.residual_group.blocks."),
    (r"^h_net\.groups\.(\d)\.proj\.", r"H_net_model.layers.\1.patch_embed.proj."),
    (r"^h_net\.groups\.(\d)\.conv\.", r"H_net_model.layers.\1.conv."),
    (r"^h_net\.", "H_net_model."),
]


def hvr_official_layout(model) -> dict[str, torch.Tensor]:
    """Keys as the release's ``HVR`` names them, under torch.compile's ``_orig_mod.``, with
    both names of the shared embedding/head convs and the buffers it saves."""
    import re

    out = {}
    for key, value in model.state_dict().items():
        if key.startswith(("embed.", "head.")):
            part, param = key.split(".")
            for alias in ("embedding", "layers.0"):
                out[f"{part}_layer.{alias}.{param}"] = value.clone()
            continue
        for pattern, repl in HVR_NAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value.clone()
    block = "H_net_model.layers.0.residual_group.blocks.1"
    out[f"{block}.attn_mask"] = torch.zeros(784, 64, 64)
    out[f"{block}.attn.relative_coords_table"] = torch.zeros(1, 15, 15, 2)
    out[f"{block}.attn.relative_position_index"] = torch.zeros(64, 64, dtype=torch.long)
    return {f"_orig_mod.{k}": v for k, v in out.items()}


def test_released_hvr_layout_loads(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = create_enhancer("hvr_ssle")
    for p in model.parameters():
        p.data.add_(torch.randn_like(p) * 0.01)
    layout = hvr_official_layout(model)
    assert "_orig_mod.H_net_model.layers.1.residual_group.blocks.0.mlp.fc2.bias" in layout
    assert "_orig_mod.L_net_model.conv0_2.conv.4.weight" in layout
    save_file({k: v.contiguous() for k, v in layout.items()}, tmp_path / "HVR.safetensors")
    loaded = create_enhancer("hvr_ssle", weights=str(tmp_path / "HVR.safetensors"))
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        torch.manual_seed(0)  # fresh latents come from the global RNG, as released
        expected = model.eval()(x)
        torch.manual_seed(0)
        assert torch.equal(expected, loaded(x))
    layout["_orig_mod.L_net_model.extra.weight"] = torch.zeros(1)
    save_file({k: v.contiguous() for k, v in layout.items()}, tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="unexpected key 'L_net_model.extra.weight'"):
        create_enhancer("hvr_ssle", weights=str(tmp_path / "bad.safetensors"))


# -- Semi-LLIE: the official trainer's checkpoint ----------------------------------------------
SEMI_BLOCK = {
    "fuse.pw": "fuse.pwconv",
    "fuse.dw": "fuse.dwconv",
    "fuse.out": "fuse.project_out",
    "fuse.mix": "fuse.mlp",
    "norm1": "ln_1",
    "norm2": "ln_2",
    "skip1": "skip_scale",
    "skip2": "skip_scale2",
    "cab.body.0": "conv_blk.cab.0",
    "cab.body.2": "conv_blk.cab.2",
    "cab.gate.1": "conv_blk.cab.3.attention.1",
    "cab.gate.3": "conv_blk.cab.3.attention.3",
    "ssm.in_proj": "self_attention.in_proj",
    "ssm.out_proj": "self_attention.out_proj",
    "ssm.out_norm": "self_attention.out_norm",
    "ssm.conv3": "self_attention.conv2d",
    "ssm.conv5": "self_attention.conv2d_55",
    "ssm.merge": "self_attention.point_wise_conv",
    "ssm.x_proj": "self_attention.x_proj_weight",
    "ssm.dt_proj": "self_attention.dt_projs_weight",
    "ssm.dt_bias": "self_attention.dt_projs_bias",
    "ssm.A_log": "self_attention.A_logs",
    "ssm.D": "self_attention.Ds",
}
SEMI_TOP = {
    "illu_in": "estimator.conv1",
    "illu_feat": "estimator.depth_conv",
    "illu_map": "estimator.conv2",
    "embed_norm": "patch_embed.norm",
}


def semi_official_layout(model) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in model.state_dict().items():
        parts = key.split(".")
        if parts[0] == "groups" and parts[2] == "blocks":
            inner = ".".join(parts[4:])
            for ours, theirs in SEMI_BLOCK.items():
                if inner == ours or inner.startswith(ours + "."):
                    inner = theirs + inner[len(ours) :]
                    break
            new = f"layers.{parts[1]}.residual_group.blocks.{parts[3]}.{inner}"
        elif parts[0] == "groups":
            new = f"layers.{parts[1]}.{'.'.join(parts[2:])}"
        else:
            new = ".".join([SEMI_TOP.get(parts[0], parts[0]), *parts[1:]])
        out[f"module.{new}"] = value.clone()
    kernel = torch.zeros(1, 1, 3, 3)
    out["module.get_gradient.weight_h"] = kernel
    out["module.get_gradient.weight_v"] = kernel
    return out


def test_semi_llie_training_checkpoint_loads(tmp_path):
    torch.manual_seed(0)
    model = create_enhancer("semi_llie")
    layout = semi_official_layout(model)
    assert "module.layers.1.residual_group.blocks.1.self_attention.A_logs" in layout
    assert "module.layers.0.residual_group.blocks.0.conv_blk.cab.3.attention.3.bias" in layout
    checkpoint = {
        "arch": "DataParallel",
        "epoch": 20,
        "state_dict": layout,
        "optimizer_dict": {"state": {}, "param_groups": [{"lr": 2e-4}]},
    }
    torch.save(checkpoint, tmp_path / "model_e20.pth")
    loaded = create_enhancer("semi_llie", weights=str(tmp_path / "model_e20.pth"))
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))
