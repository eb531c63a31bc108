"""RAM's image encoder (Swin + image_proj) as Semi-LLIE's contrastive feature extractor."""

from __future__ import annotations

import pytest
import torch

from gefu.train.aux import build_aux
from gefu.train.ram_encoder import (
    SWIN_L_384,
    RAMImageEncoder,
    load_ram_encoder,
    ram_state_dict,
    swin_parameter_count,
)

# a small RAM: a Swin of RAM's layout with 3 stages (two patch mergings), shifted windows in
# stages 0-1, and a small tagging head of RAM's layout
SWIN = {
    "image_size": 32,
    "embed_dim": 8,
    "depths": [2, 2, 2],
    "num_heads": [1, 2, 2],
    "window_size": 4,
}
TINY = {
    **SWIN,
    "proj_dim": 16,
    "num_tags": 7,
    "tag_hidden": 12,
    "tag_heads": 2,
    "tag_layers": 2,
    "tag_intermediate": 20,
}

# the bundled photos darkened on the fly (the training default of most methods)
BUNDLED = {"name": "bundled_photos", "params": {"max_side": None}}
DARK_BUNDLED = {
    "name": "darkened",
    "params": {"dataset": BUNDLED, "model": "physical", "severity": "random"},
}
SEMI_DATA = {"labeled": DARK_BUNDLED, "unlabeled": DARK_BUNDLED}


def save_ram_checkpoint(encoder: RAMImageEncoder, path, edit=None):
    """``encoder`` in RAM's checkpoint layout: ``{"model": ...}`` with the tagger's other keys."""
    state = ram_state_dict(encoder)
    # parts of RAM not used here: tag encoder, text decoder, what RAM deletes from the head
    state["tag_encoder.encoder.layer.0.attention.self.query.weight"] = torch.zeros(4, 6)
    state["text_decoder.cls.predictions.bias"] = torch.zeros(3)
    state["tagging_head.embeddings.word_embeddings.weight"] = torch.zeros(3, 12)
    state["tagging_head.encoder.layer.1.attention.self.key.weight"] = torch.zeros(12, 12)
    if edit is not None:
        edit(state)
    torch.save({"model": state}, path)
    return path


def tiny_encoder(seed: int = 0) -> RAMImageEncoder:
    torch.manual_seed(seed)
    encoder = RAMImageEncoder(**TINY).eval()
    for p in encoder.parameters():  # timm zero-initialises some tensors: make every one count
        p.data.normal_(0, 0.2)
    return encoder


def test_checkpoint_in_rams_layout_reproduces_the_features(tmp_path):
    encoder = tiny_encoder()
    state = ram_state_dict(encoder)
    # RAM's layout: patch merging at the end of stages 0..n-2, buffers saved, no head
    assert "visual_encoder.layers.0.downsample.reduction.weight" in state
    assert not any(k.startswith("visual_encoder.layers.2.downsample") for k in state)
    assert "visual_encoder.layers.0.blocks.1.attn_mask" in state
    assert "visual_encoder.layers.0.blocks.0.attn_mask" not in state  # unshifted block
    assert "visual_encoder.layers.1.blocks.0.attn.relative_position_index" in state
    assert "visual_encoder.norm.weight" in state and "image_proj.weight" in state
    assert not any(k.startswith("visual_encoder.head") for k in state)
    assert state["label_embed"].shape == (7, 16) and state["fc.weight"].shape == (1, 12)
    assert state["tagging_head.encoder.layer.1.crossattention.self.key.weight"].shape == (12, 16)
    assert state["tagging_head.encoder.layer.0.output.LayerNorm.bias"].shape == (12,)

    def scramble_buffers(s):  # recomputed on load, never read from the file
        for k in s:
            if k.endswith(("relative_position_index", "attn_mask")):
                s[k] = torch.zeros_like(s[k])

    path = save_ram_checkpoint(encoder, tmp_path / "ram_tiny.pth", scramble_buffers)
    loaded = build_aux("ram", {"weights": str(path), "arch": TINY})
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training
    x = torch.rand(2, 3, 40, 24)
    with torch.no_grad():
        (embeds, logits), got = encoder(x), loaded(x)
    assert got[0].shape == (2, 1 + 2 * 2, 16)  # pooled token + (32 / 4 / 2 / 2)^2 tokens
    assert got[1].shape == (2, 7)
    assert torch.equal(got[0], embeds) and torch.equal(got[1], logits)
    # the pooled token is the mean of the others, and the input is resized to image_size
    swin = loaded.visual_encoder.forward_features(
        torch.nn.functional.interpolate(x, (32, 32), mode="bilinear", align_corners=False)
    )
    tokens = swin.flatten(1, 2)
    assert torch.allclose(got[0][:, 0], loaded.image_proj(tokens.mean(1)), atol=1e-6)
    assert torch.allclose(got[0][:, 1:], loaded.image_proj(tokens), atol=1e-6)

    def older_name(s):  # older RAM files call the tagging head vision_multi
        for k in [k for k in s if k.startswith("tagging_head.")]:
            s["vision_multi." + k[len("tagging_head.") :]] = s.pop(k)

    path = save_ram_checkpoint(encoder, tmp_path / "ram_old.pth", older_name)
    with torch.no_grad():
        assert torch.equal(load_ram_encoder(path, **TINY)(x)[1], logits)
        no_tags = load_ram_encoder(path, tag_logits=False, **TINY)(x)
    assert len(no_tags) == 1 and torch.equal(no_tags[0], embeds)


def test_a_bad_checkpoint_is_a_clear_error(tmp_path):
    encoder = tiny_encoder()

    def rename(s):
        s["visual_encoder.layers.0.blocks.0.attn.qkv.weight_old"] = s.pop(
            "visual_encoder.layers.0.blocks.0.attn.qkv.weight"
        )

    path = save_ram_checkpoint(encoder, tmp_path / "renamed.pth", rename)
    with pytest.raises(ValueError) as err:
        load_ram_encoder(path, **TINY)
    assert "1 missing (visual_encoder.layers.0.blocks.0.attn.qkv.weight)" in str(err.value)
    assert "1 unexpected (visual_encoder.layers.0.blocks.0.attn.qkv.weight_old)" in str(err.value)

    def resize(s):
        s["image_proj.weight"] = torch.zeros(7, 32)
        del s["fc.bias"]

    path = save_ram_checkpoint(encoder, tmp_path / "shape.pth", resize)
    with pytest.raises(
        ValueError,
        match=r"1 missing \(fc.bias\); 1 misshapen \(image_proj.weight "
        r"\(7, 32\) != \(16, 32\)\)",
    ):
        load_ram_encoder(path, **TINY)
    torch.save({"model": {"backbone.conv.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a RAM checkpoint.*backbone.conv.weight"):
        load_ram_encoder(tmp_path / "other.pth", **TINY)
    with pytest.raises(FileNotFoundError, match="aux.ram.*ram_swin_large_14m.pth"):
        build_aux("ram", {"weights": str(tmp_path / "absent.pth")})
    from gefu.bench.config import ConfigError

    with pytest.raises(ConfigError, match="aux.ram"):
        build_aux("ram", {"weight": "typo.pth"})


def test_full_size_is_rams_swin_l_384():
    # RAM's visual encoder (ram/configs/swin/config_swinL_384.json, no head): 195,198,516
    # parameters, counted from its layer shapes; timm lists swin_large_patch4_window12_384 at
    # 196.7M with its 1000-class head (1536 * 1000 + 1000 = 1,537,000 more)
    import timm

    expected = swin_parameter_count(384, 192, (2, 2, 18, 2), (6, 12, 24, 48), 12)
    assert expected == 195_198_516
    with torch.device("meta"):
        encoder = RAMImageEncoder(**SWIN_L_384)
        reference = timm.create_model("swin_large_patch4_window12_384", pretrained=False)
    assert sum(p.numel() for p in encoder.visual_encoder.parameters()) == expected
    assert sum(p.numel() for p in reference.parameters()) == expected + 1_537_000
    assert sum(p.numel() for p in encoder.image_proj.parameters()) == 1536 * 512 + 512
    # tagging head (ram/configs/q2l_config.json, 4,585 tags): label_embed 4585 x 512,
    # wordvec_proj 512 -> 768, 2 x (query 768², key/value 512 -> 768, output 768², 2 LayerNorms,
    # 768 -> 3072 -> 768), fc 768 -> 1
    layer = 768 * 769 + 2 * 512 * 768 + 2 * 768 + 768 * 769 + 2 * 768 * 3072 + 3072 + 768 + 4 * 768
    head = 4585 * 512 + 512 * 768 + 768 + 2 * layer + 769
    assert sum(p.numel() for p in encoder.tags.parameters()) == head == 16_131_585
    ours = {k: v.shape for k, v in encoder.visual_encoder.state_dict().items()}
    timms = {k: v.shape for k, v in reference.state_dict().items() if not k.startswith("head")}
    assert ours == timms
    assert swin_parameter_count(**SWIN) == sum(  # its last stage (2 x 2) is one shrunk window
        p.numel() for p in tiny_encoder().visual_encoder.parameters()
    )


def test_semi_llie_contrastive_loss_on_ram_features(tmp_path):
    from gefu.methods.semi_llie.recipe import SemiLLIEConfig, SemiLLIETraining

    path = save_ram_checkpoint(tiny_encoder(), tmp_path / "ram_tiny.pth")
    aux = {
        "ram": build_aux("ram", {"weights": str(path), "arch": TINY}),
        "vgg": build_aux("vgg", {"layer": "relu3_3"}, allow_random=True),
    }
    assert SemiLLIEConfig().contrastive_features == "ram"  # as released

    class Ctx:
        step = 0

        def aux(self, name):
            return aux[name]

    x = torch.rand(1, 3, 16, 16)
    batch = {
        "labeled": {"low": x * 0.2, "normal": x},
        "unlabeled": {"weak": x * 0.2, "strong": x * 0.3},
    }
    for grad in (False, True):
        torch.manual_seed(0)
        config = SemiLLIEConfig(embed_dim=32, depths=[1], contrastive_grad=grad)
        method = SemiLLIETraining(config, SEMI_DATA)
        assert method.aux_networks == ("vgg", "ram")
        method.epoch_steps = 10
        terms = method.losses(batch, Ctx())
        assert torch.isfinite(terms["contrastive"]) and terms["contrastive"] > 0
        assert terms["contrastive"].requires_grad is grad
        if grad:  # the paper's reading: the student gets the contrastive term's gradient
            terms["contrastive"].backward()
            grads = [p.grad for p in method.modules()["model"].parameters()]
            assert any(g is not None and g.abs().sum() > 0 for g in grads)
    vgg_only = SemiLLIETraining(SemiLLIEConfig(contrastive_features="vgg"), SEMI_DATA)
    assert vgg_only.aux_networks == ("vgg",)


def test_semi_llie_trains_with_the_ram_aux_network(tmp_path):
    from gefu.train.config import TrainConfig
    from gefu.train.loop import train

    path = save_ram_checkpoint(tiny_encoder(), tmp_path / "ram_tiny.pth")
    cfg = TrainConfig.model_validate(
        {
            "method": "semi_llie",
            "steps": 2,
            "batch_size": 1,
            "device": "cpu",
            "log_every": 1,
            "checkpoint_every": 2,
            "allow_random_aux": True,
            "aux": {"vgg": {"layer": "relu3_3"}, "ram": {"weights": str(path), "arch": TINY}},
            "data": {**SEMI_DATA, "crop": 16, "resize": 20},
            "params": {"embed_dim": 32, "depths": [1], "epoch_steps": 2},
        }
    )
    train(cfg, output=tmp_path / "run", quiet=True)
    import json

    recipe = json.loads((tmp_path / "run" / "recipe.json").read_text())
    assert recipe["switches"]["contrastive_features"] == {
        "value": "ram",
        "release": "ram",
        "as_released": True,
    }
    log = (tmp_path / "run" / "metrics.csv").read_text()
    assert "contrastive" in log


def swin_reference(state: dict, x: torch.Tensor, depths, heads, window: int) -> torch.Tensor:
    """RAM's encoder + image_proj written out step by step from a state dict in RAM's layout
    (its Swin: patch merging at the end of a stage, ``[x0::2 y0::2, x1::2 y0::2, x0::2 y1::2,
    x1::2 y1::2]`` channel order, shifted windows masked with -100), as an independent check of
    the timm-based module and of the key mapping."""
    F = torch.nn.functional

    def w(name):
        return state["visual_encoder." + name]

    def norm(t, name):
        return F.layer_norm(t, t.shape[-1:], w(name + ".weight"), w(name + ".bias"))

    def linear(t, name):
        return F.linear(t, w(name + ".weight"), state.get(f"visual_encoder.{name}.bias"))

    t = F.conv2d(x, w("patch_embed.proj.weight"), w("patch_embed.proj.bias"), stride=4)
    t = norm(t.permute(0, 2, 3, 1), "patch_embed.norm")  # B H W C
    for i, (depth, nh) in enumerate(zip(depths, heads)):
        b, h, wd, c = t.shape
        ws = min(window, h)
        n = ws * ws
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij"))
        rel = (coords.flatten(1)[:, :, None] - coords.flatten(1)[:, None, :]) + ws - 1
        index = rel[0] * (2 * ws - 1) + rel[1]
        for j in range(depth):
            p = f"layers.{i}.blocks.{j}."
            shift = ws // 2 if (j % 2 and h > window) else 0
            y = norm(t, p + "norm1").roll((-shift, -shift), (1, 2))
            win = y.view(b, h // ws, ws, wd // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
            win = win.reshape(-1, n, c)
            qkv = linear(win, p + "attn.qkv").view(-1, n, 3, nh, c // nh).permute(2, 0, 3, 1, 4)
            att = (qkv[0] * (c // nh) ** -0.5) @ qkv[1].transpose(-2, -1)
            att = att + w(p + "attn.relative_position_bias_table")[index].permute(2, 0, 1)
            if shift:
                region = torch.zeros(h, wd)
                cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
                for k, (hs, wsl) in enumerate((a, bb) for a in cuts for bb in cuts):
                    region[hs, wsl] = k
                rw = region.view(h // ws, ws, wd // ws, ws).permute(0, 2, 1, 3).reshape(-1, n)
                mask = (rw[:, None, :] != rw[:, :, None]).float() * -100.0
                att = (att.view(b, -1, nh, n, n) + mask[None, :, None]).view(-1, nh, n, n)
            out = (att.softmax(-1) @ qkv[2]).transpose(1, 2).reshape(-1, n, c)
            out = linear(out, p + "attn.proj").view(b, h // ws, wd // ws, ws, ws, c)
            out = out.permute(0, 1, 3, 2, 4, 5).reshape(b, h, wd, c).roll((shift, shift), (1, 2))
            t = t + out
            mlp = F.gelu(linear(norm(t, p + "norm2"), p + "mlp.fc1"))
            t = t + linear(mlp, p + "mlp.fc2")
        if f"visual_encoder.layers.{i}.downsample.reduction.weight" in state:
            quads = [t[:, 0::2, 0::2], t[:, 1::2, 0::2], t[:, 0::2, 1::2], t[:, 1::2, 1::2]]
            d = f"layers.{i}.downsample."
            t = linear(norm(torch.cat(quads, -1), d + "norm"), d + "reduction")
    tokens = norm(t, "norm").flatten(1, 2)
    tokens = torch.cat([tokens.mean(1, keepdim=True), tokens], 1)
    return F.linear(tokens, state["image_proj.weight"], state["image_proj.bias"])


def tags_reference(state: dict, embeds: torch.Tensor, heads: int) -> torch.Tensor:
    """RAM's ``generate_tag`` logits from a state dict in RAM's layout, written out: ReLU of the
    projected label embeddings, per layer BERT cross-attention (post-LayerNorm residuals) and
    feed-forward, then ``fc``."""
    F = torch.nn.functional

    def lin(t, name):
        return F.linear(t, state[name + ".weight"], state[name + ".bias"])

    def ln(t, name):
        return F.layer_norm(t, t.shape[-1:], state[name + ".weight"], state[name + ".bias"], 1e-12)

    q = F.relu(lin(state["label_embed"], "wordvec_proj")).expand(len(embeds), -1, -1)
    i = 0
    while f"tagging_head.encoder.layer.{i}.output.dense.weight" in state:
        p = f"tagging_head.encoder.layer.{i}."
        b, nq, hidden = q.shape
        d = hidden // heads
        split = lambda t, b=b, d=d: t.view(b, -1, heads, d).transpose(1, 2)  # noqa: E731
        a = p + "crossattention."
        qh, kh = split(lin(q, a + "self.query")), split(lin(embeds, a + "self.key"))
        vh = split(lin(embeds, a + "self.value"))
        probs = torch.softmax(qh @ kh.transpose(-1, -2) / d**0.5, -1)
        ctx = (probs @ vh).transpose(1, 2).reshape(b, nq, hidden)
        q = ln(lin(ctx, a + "output.dense") + q, a + "output.LayerNorm")
        ffn = lin(F.gelu(lin(q, p + "intermediate.dense")), p + "output.dense")
        q = ln(ffn + q, p + "output.LayerNorm")
        i += 1
    return lin(q, "fc").squeeze(-1)


def test_timm_module_computes_rams_swin_and_tagging_head():
    # 64 px: stages at 16, 8, 4 tokens a side, window 4: shifted windows in stages 0 and 1
    arch = {
        "image_size": 64,
        "embed_dim": 8,
        "depths": [2, 2, 2],
        "num_heads": [1, 2, 2],
        "window_size": 4,
        "proj_dim": 10,
        "num_tags": 9,
        "tag_hidden": 12,
        "tag_heads": 3,
        "tag_layers": 2,
        "tag_intermediate": 20,
    }
    torch.manual_seed(0)
    encoder = RAMImageEncoder(**arch).eval()
    for p in encoder.parameters():
        p.data.normal_(0, 0.3)
    x = torch.rand(2, 3, 64, 64)
    state = ram_state_dict(encoder)
    with torch.no_grad():
        embeds = swin_reference(state, x, [2, 2, 2], [1, 2, 2], 4)
        logits = tags_reference(state, embeds, heads=3)
        got = encoder(x)
    assert got[0].shape == embeds.shape == (2, 1 + 4 * 4, 10)
    assert torch.allclose(got[0], embeds, atol=1e-5), (got[0] - embeds).abs().max()
    assert got[1].shape == logits.shape == (2, 9)
    assert torch.allclose(got[1], logits, atol=1e-5), (got[1] - logits).abs().max()
