"""The illumination-aware image prompt of SCUF.

The HSV value channel V = max(R, G, B) of the image (or 1 - V: "reversed") is repeated to
three channels and embedded by a frozen CLIP ViT-B/32 image encoder exactly as released: at
the image's own resolution, without CLIP's mean/std normalisation and without positional
embeddings (the release's ``encode_image(..., pos_embedding=False)``), projected and
L2-normalised. A trainable projection (Linear(512 -> tokens x width) + LayerNorm) turns the
embedding into ``tokens`` extra tokens appended to the text tokens.
"""

from __future__ import annotations

import torch
from torch import nn


def value_map(image01: torch.Tensor, reverse: bool) -> torch.Tensor:
    """``[B,3,H,W]`` in [0,1] -> the (reversed) HSV V channel repeated to ``[B,3,H,W]``."""
    v = image01.amax(1, keepdim=True)
    return (1 - v if reverse else v).expand(-1, 3, -1, -1)


@torch.no_grad()
def clip_image_embedding(clip_vision, images: torch.Tensor) -> torch.Tensor:
    """L2-normalised CLIP image embeddings ``[B, projection_dim]`` (released recipe)."""
    vm = clip_vision.vision_model
    emb = vm.embeddings
    x = emb.patch_embedding(images.to(emb.patch_embedding.weight.dtype))
    x = x.flatten(2).transpose(1, 2)
    cls = emb.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
    x = vm.pre_layrnorm(torch.cat([cls, x], 1))
    x = vm.encoder(inputs_embeds=x).last_hidden_state
    x = clip_vision.visual_projection(vm.post_layernorm(x[:, 0]))
    return x / x.norm(dim=-1, keepdim=True)


class PromptProjection(nn.Module):
    """CLIP image embedding ``[B, embed_dim]`` -> ``[B, tokens, width]`` prompt tokens."""

    def __init__(self, embed_dim: int = 512, width: int = 1024, tokens: int = 4):
        super().__init__()
        self.tokens, self.width = tokens, width
        self.proj = nn.Linear(embed_dim, tokens * width)
        self.norm = nn.LayerNorm(width)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(embedding).reshape(-1, self.tokens, self.width))
