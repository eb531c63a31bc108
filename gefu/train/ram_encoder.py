"""RAM (Recognize Anything, xinyu1205/recognize-anything) as Semi-LLIE's frozen feature
extractor: its image encoder (a Swin Transformer Large at 384 plus ``image_proj``) and its
tagging head (tag logits), loaded from ``ram_swin_large_14m.pth``.

Facts of RAM's code (``ram/models/ram.py``, ``ram/models/swin_transformer.py``,
``ram/configs/swin/config_swinL_384.json``): patch 4, embed 192, depths (2, 2, 18, 2), heads
(6, 12, 24, 48), window 12, MLP ratio 4, qkv bias, no absolute position embedding, patch norm,
no classifier head (``vision_width`` 1536). The encoder returns the final-norm tokens with their
mean prepended (``[B, 1 + 144, 1536]`` at 384); ``image_proj`` (Linear 1536 -> 512) maps them to
RAM's image embedding ``[B, 145, 512]``. The checkpoint is ``{"model": state_dict}`` holding
the whole tagger; the encoder's keys are

    visual_encoder.patch_embed.{proj,norm}.*
    visual_encoder.layers.{i}.blocks.{j}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*
    visual_encoder.layers.{i}.blocks.{j}.attn.relative_position_bias_table
    visual_encoder.layers.{i}.downsample.{norm,reduction}.*   (end of stages 0-2)
    visual_encoder.norm.*, image_proj.{weight,bias}

plus the buffers ``attn.relative_position_index`` and (shifted blocks) ``attn_mask``, which
RAM's own loader drops and which are recomputed here. The tagging head (``ram.py``
``generate_tag``; ``configs/q2l_config.json``): ``label_embed`` (4,585 tags x 512) through
``wordvec_proj`` (512 -> 768) and a ReLU are the queries of a 2-layer BERT decoder
(``tagging_head.encoder.layer.{i}``: hidden 768, 4 heads, intermediate 3072, exact GELU,
LayerNorm eps 1e-12) whose layers have no self-attention (RAM deletes it and the embeddings:
``del_selfattention``), only cross-attention to the image embedding
(``crossattention.self.{query,key,value}``, ``crossattention.output.{dense,LayerNorm}``) and
the feed-forward part (``intermediate.dense``, ``output.{dense,LayerNorm}``); ``fc`` (768 -> 1)
gives one logit per tag. Everything else in the file (tag encoder, text decoder) is not used.

The network is timm's ``SwinTransformer`` (random init, nothing downloaded); its only layout
difference is that a stage's patch merging sits at the start of the next stage
(``layers.{i+1}.downsample``). Semi-LLIE's release (``loss/ram_contrast.py``) resizes the batch
bilinearly to 384 (``align_corners=False``), feeds raw [0, 1] RGB (no ImageNet normalisation),
takes the image embedding and the tag logits (``condition_forward``) under ``no_grad`` and sums
one contrastive ratio on each.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gefu.core.checkpoint import key_mismatch, load_checkpoint

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# ram/configs/swin/config_swinL_384.json; image_proj's output width from ram/models/ram.py
SWIN_L_384 = {
    "image_size": 384,
    "patch_size": 4,
    "embed_dim": 192,
    "depths": (2, 2, 18, 2),
    "num_heads": (6, 12, 24, 48),
    "window_size": 12,
    "proj_dim": 512,
}
# ram/configs/q2l_config.json (hidden 768, 4 heads, 2 layers, intermediate 3072); 4,585 tags
TAG_HEAD = {
    "num_tags": 4585,
    "tag_hidden": 768,
    "tag_heads": 4,
    "tag_layers": 2,
    "tag_intermediate": 3072,
}
ENCODER_PREFIXES = ("visual_encoder.", "image_proj.")
TAG_PREFIXES = ("tagging_head.", "label_embed", "wordvec_proj.", "fc.")
BUFFERS = ("relative_position_index", "attn_mask")
# parts of RAM's tagging head it deletes before use (``del_selfattention``)
DELETED = re.compile(r"^tagging_head\.(embeddings\.|encoder\.layer\.\d+\.attention\.)")


def _bert_cross_layer(hidden: int, width: int, intermediate: int) -> nn.ModuleDict:
    """One layer of RAM's tagging decoder, in BERT's module names, self-attention removed."""
    return nn.ModuleDict(
        {
            "crossattention": nn.ModuleDict(
                {
                    "self": nn.ModuleDict(
                        {
                            "query": nn.Linear(hidden, hidden),
                            "key": nn.Linear(width, hidden),
                            "value": nn.Linear(width, hidden),
                        }
                    ),
                    "output": nn.ModuleDict(
                        {
                            "dense": nn.Linear(hidden, hidden),
                            "LayerNorm": nn.LayerNorm(hidden, eps=1e-12),
                        }
                    ),
                }
            ),
            "intermediate": nn.ModuleDict({"dense": nn.Linear(hidden, intermediate)}),
            "output": nn.ModuleDict(
                {
                    "dense": nn.Linear(intermediate, hidden),
                    "LayerNorm": nn.LayerNorm(hidden, eps=1e-12),
                }
            ),
        }
    )


class RAMTaggingHead(nn.Module):
    """Image embedding ``[B, N, width]`` -> RAM's tag logits ``[B, num_tags]``."""

    def __init__(
        self,
        width=512,
        num_tags=4585,
        tag_hidden=768,
        tag_heads=4,
        tag_layers=2,
        tag_intermediate=3072,
    ):
        super().__init__()
        self.heads = tag_heads
        self.label_embed = nn.Parameter(torch.zeros(num_tags, width))
        self.wordvec_proj = nn.Linear(width, tag_hidden)
        layers = [_bert_cross_layer(tag_hidden, width, tag_intermediate) for _ in range(tag_layers)]
        self.tagging_head = nn.ModuleDict(
            {"encoder": nn.ModuleDict({"layer": nn.ModuleList(layers)})}
        )
        self.fc = nn.Linear(tag_hidden, 1)

    def _split(self, t: torch.Tensor) -> torch.Tensor:  # [B, L, H] -> [B, heads, L, H/heads]
        return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def forward(self, image_embeds: torch.Tensor) -> torch.Tensor:
        q = F.relu(self.wordvec_proj(self.label_embed))
        q = q.unsqueeze(0).expand(len(image_embeds), -1, -1)
        for layer in self.tagging_head["encoder"]["layer"]:
            att, out = layer["crossattention"]["self"], layer["crossattention"]["output"]
            ctx = F.scaled_dot_product_attention(  # every image token attended (mask of ones)
                self._split(att["query"](q)),
                self._split(att["key"](image_embeds)),
                self._split(att["value"](image_embeds)),
            )
            q = out["LayerNorm"](out["dense"](ctx.transpose(1, 2).flatten(2)) + q)
            ffn = F.gelu(layer["intermediate"]["dense"](q))
            q = layer["output"]["LayerNorm"](layer["output"]["dense"](ffn) + q)
        return self.fc(q).squeeze(-1)


class RAMImageEncoder(nn.Module):
    """``[B,3,H,W]`` RGB in [0,1] -> ``(RAM's image embedding [B, 1 + N, proj_dim]`` (pooled
    token first)``, its tag logits [B, num_tags])``, the input resized to ``image_size`` first;
    without the tagging head (``tag_logits=False``) the embedding alone, as a 1-tuple."""

    def __init__(
        self,
        image_size=384,
        patch_size=4,
        embed_dim=192,
        depths=(2, 2, 18, 2),
        num_heads=(6, 12, 24, 48),
        window_size=12,
        proj_dim=512,
        imagenet_norm=False,
        tag_logits=True,
        **tag_head,
    ):
        super().__init__()
        from timm.models.swin_transformer import SwinTransformer

        self.image_size, self.imagenet_norm = image_size, imagenet_norm
        self.visual_encoder = SwinTransformer(
            img_size=image_size,
            patch_size=patch_size,
            embed_dim=embed_dim,
            depths=tuple(depths),
            num_heads=tuple(num_heads),
            window_size=window_size,
            mlp_ratio=4.0,
            qkv_bias=True,
            drop_rate=0.0,
            drop_path_rate=0.0,
            num_classes=0,
        )
        self.image_proj = nn.Linear(self.visual_encoder.num_features, proj_dim)
        self.tags = RAMTaggingHead(proj_dim, **{**TAG_HEAD, **tag_head}) if tag_logits else None
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"RAM encoder: expected [B,3,H,W] RGB, got {tuple(x.shape)}")
        size = (self.image_size, self.image_size)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if self.imagenet_norm:
            x = (x - self.mean) / self.std
        tokens = self.visual_encoder.forward_features(x).flatten(1, 2)  # NHWC -> [B, HW, C]
        tokens = torch.cat([tokens.mean(1, keepdim=True), tokens], dim=1)
        embeds = self.image_proj(tokens)
        return (embeds,) if self.tags is None else (embeds, self.tags(embeds))


def swin_parameter_count(
    image_size: int,
    embed_dim: int,
    depths,
    num_heads,
    window_size: int,
    patch_size: int = 4,
    mlp_ratio: int = 4,
) -> int:
    """Parameters of RAM's headless Swin (``visual_encoder``), counted from its layer shapes
    (a stage whose resolution is at most the window attends over the whole stage instead)."""
    total = 3 * embed_dim * patch_size**2 + embed_dim + 2 * embed_dim  # conv + patch norm
    for i, (depth, heads) in enumerate(zip(depths, num_heads)):
        c = embed_dim * 2**i
        table = (2 * min(window_size, image_size // patch_size // 2**i) - 1) ** 2
        block = 2 * c + table * heads + 3 * c * c + 3 * c + c * c + c + 2 * c
        block += 2 * mlp_ratio * c * c + mlp_ratio * c + c
        total += depth * block
        if i < len(depths) - 1:  # patch merging: LayerNorm(4c) + Linear(4c -> 2c, no bias)
            total += 2 * 4 * c + 4 * c * 2 * c
    return total + 2 * embed_dim * 2 ** (len(depths) - 1)  # final norm


def _official_to_timm(key: str) -> str:
    key = key[len("visual_encoder.") :] if key.startswith("visual_encoder.") else key
    return re.sub(
        r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m[1]) + 1}.downsample", key
    )


def _timm_to_official(key: str) -> str:
    key = re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m[1]) - 1}.downsample", key)
    return "visual_encoder." + key


def ram_state_dict(encoder: RAMImageEncoder) -> dict[str, torch.Tensor]:
    """The encoder's weights under RAM's key names, buffers included (as RAM saves them)."""
    out = {_timm_to_official(k): v for k, v in encoder.visual_encoder.state_dict().items()}
    for name, buf in encoder.visual_encoder.named_buffers():
        if name.rsplit(".", 1)[-1] in BUFFERS:
            out[_timm_to_official(name)] = buf
    out.update({f"image_proj.{k}": v for k, v in encoder.image_proj.state_dict().items()})
    if encoder.tags is not None:
        out.update(encoder.tags.state_dict())
    return out


def read_ram_checkpoint(path: str | Path, tag_logits: bool = True) -> dict[str, torch.Tensor]:
    """RAM's checkpoint (``{"model": state}``, or the state itself) read with
    ``weights_only=True``: the image encoder's keys and (``tag_logits``) the tagging head's
    (older files name it ``vision_multi``), without the relative-position-index and
    attention-mask buffers and the parts RAM deletes."""
    path = Path(path).expanduser()
    state = load_checkpoint(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a RAM checkpoint (expected a dict of tensors)")
    state = {re.sub(r"^vision_multi\.", "tagging_head.", k): v for k, v in state.items()}
    if not any(k.startswith("visual_encoder.") for k in state):
        raise ValueError(
            f"{path}: not a RAM checkpoint: no visual_encoder.* keys "
            f"(first keys: {list(state)[:3]})"
        )
    prefixes = ENCODER_PREFIXES + (TAG_PREFIXES if tag_logits else ())
    return {
        k: v
        for k, v in state.items()
        if k.startswith(prefixes) and k.rsplit(".", 1)[-1] not in BUFFERS and not DELETED.match(k)
    }


def load_ram_encoder(weights: str | Path | None, **arch) -> RAMImageEncoder:
    """RAM's encoder (``SWIN_L_384`` and ``TAG_HEAD`` unless ``arch`` says otherwise), from
    ``weights`` when given (random otherwise). Missing, unknown or misshapen keys are errors
    naming them."""
    encoder = RAMImageEncoder(**{**SWIN_L_384, **arch})
    if weights is None:
        return encoder
    state = read_ram_checkpoint(weights, encoder.tags is not None)
    own = {k: v for k, v in ram_state_dict(encoder).items() if k.rsplit(".", 1)[-1] not in BUFFERS}
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
        for k in sorted(own.keys() & state.keys())
        if state[k].shape != own[k].shape
    ]
    mismatch = key_mismatch(state, own, shown=5)
    problems = [mismatch] if mismatch else []
    problems += [f"{len(shapes)} misshapen ({', '.join(shapes[:5])})"] if shapes else []
    if problems:
        raise ValueError(
            f"{weights}: does not fit RAM's image encoder {arch or 'Swin-L 384'}: "
            + "; ".join(problems)
        )
    encoder.visual_encoder.load_state_dict(
        {_official_to_timm(k): v for k, v in state.items() if k.startswith("visual_encoder.")}
    )
    encoder.image_proj.load_state_dict(
        {k[len("image_proj.") :]: v for k, v in state.items() if k.startswith("image_proj.")}
    )
    if encoder.tags is not None:
        encoder.tags.load_state_dict({k: v for k, v in state.items() if k.startswith(TAG_PREFIXES)})
    return encoder
