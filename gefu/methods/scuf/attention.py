"""The cycle-attention adapter of SCUF as a diffusers attention processor.

Installed on every cross-attention layer (``attn2``) of the frozen UNet. The encoder states
carry the text tokens followed by ``num_tokens`` image-prompt tokens. The text tokens go
through the layer's own attention; the image tokens through a two-stage attention:
1. queries made from the image tokens (``to_q_ca``: tokens -> hidden size, rows resampled to
   the number of UNet positions) attend to the UNet features (the processor's input);
2. the layer's ``to_q`` of that result attends to the image tokens (``to_k_ca``/``to_v_ca``,
   initialised from the layer's ``to_k``/``to_v``).
The stage-2 output is ADDED to the text attention output before ``to_out``. Attention is
PyTorch SDPA (memory-efficient kernels where available).

``add_input``: the released processor also adds its input to its output (an extra residual
besides the transformer block's own); kept by default because the released weights were
trained with it. With ``add_input=False`` and a zero image branch the layer is exactly the
stock one. ``enabled=False`` makes it the stock processor (text tokens only), which is how
the frozen caption-consistency teacher runs on the same UNet.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, d = x.shape
    return x.view(b, n, heads, d // heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


class CycleAttnProcessor(nn.Module):
    def __init__(
        self,
        hidden_size: int,
        cross_attention_dim: int,
        num_tokens: int = 4,
        add_input: bool = True,
    ):
        super().__init__()
        self.hidden_size, self.cross_attention_dim = hidden_size, cross_attention_dim
        self.num_tokens, self.add_input, self.enabled = num_tokens, add_input, True
        self.to_q_ca = nn.Linear(num_tokens, hidden_size, bias=False)
        self.to_k_ca = nn.Linear(cross_attention_dim, hidden_size, bias=False)
        self.to_v_ca = nn.Linear(cross_attention_dim, hidden_size, bias=False)

    def __call__(
        self,
        attn,
        hidden_states,
        encoder_hidden_states=None,
        attention_mask=None,
        temb=None,
        *args,
        **kwargs,
    ):
        if encoder_hidden_states is None:
            raise ValueError("CycleAttnProcessor is for cross-attention layers only")
        if hidden_states.ndim != 3 or attn.spatial_norm is not None or attn.group_norm is not None:
            raise ValueError("CycleAttnProcessor expects the token layout of a transformer block")
        residual = hidden_states
        if self.enabled:
            split = encoder_hidden_states.shape[1] - self.num_tokens
            text, image = encoder_hidden_states[:, :split], encoder_hidden_states[:, split:]
        else:
            text, image = encoder_hidden_states, None
        if attn.norm_cross:
            text = attn.norm_encoder_hidden_states(text)
        if attention_mask is not None:
            b = hidden_states.shape[0]
            attention_mask = attn.prepare_attention_mask(attention_mask, text.shape[1], b)
            attention_mask = attention_mask.view(b, attn.heads, -1, attention_mask.shape[-1])
        q = _heads(attn.to_q(hidden_states), attn.heads)
        k, v = _heads(attn.to_k(text), attn.heads), _heads(attn.to_v(text), attn.heads)
        out = _merge(F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask))
        if image is not None:
            out = out + self.image_branch(attn, hidden_states, image)
        out = attn.to_out[1](attn.to_out[0](out.to(q.dtype)))
        if self.enabled and self.add_input:
            out = out + residual
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor

    def image_branch(self, attn, features: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Two-stage attention between the UNet features and the image tokens."""
        rows = self.to_q_ca(image.transpose(1, 2))  # [B, cross_dim, hidden]
        index = torch.linspace(0, self.cross_attention_dim - 1, features.shape[1])
        q1 = _heads(rows[:, index.long().to(rows.device)], attn.heads)
        kv1 = _heads(features, attn.heads)
        stage1 = _merge(F.scaled_dot_product_attention(q1, kv1, kv1))
        q2 = _heads(attn.to_q(stage1), attn.heads)
        k2 = _heads(self.to_k_ca(image), attn.heads)
        v2 = _heads(self.to_v_ca(image), attn.heads)
        return _merge(F.scaled_dot_product_attention(q2, k2, v2))


def install_cycle_attention(unet, num_tokens: int = 4, add_input: bool = True) -> list[str]:
    """Put a ``CycleAttnProcessor`` on every cross-attention layer (k/v copied from the
    layer's ``to_k``/``to_v``, ``to_q_ca`` standard normal as released); returns their names."""
    procs, names = {}, []
    modules = dict(unet.named_modules())
    for name, proc in unet.attn_processors.items():
        layer = modules[name.removesuffix(".processor")]
        if not layer.is_cross_attention:
            procs[name] = proc
            continue
        hidden = layer.to_q.out_features
        new = CycleAttnProcessor(hidden, layer.to_k.in_features, num_tokens, add_input)
        with torch.no_grad():
            new.to_q_ca.weight.normal_()
            new.to_k_ca.weight.copy_(layer.to_k.weight)
            new.to_v_ca.weight.copy_(layer.to_v.weight)
        procs[name] = new.to(layer.to_q.weight.device)
        names.append(name)
    unet.set_attn_processor(procs)
    return names


def set_cycle_attention(unet, enabled: bool) -> None:
    for proc in unet.attn_processors.values():
        if isinstance(proc, CycleAttnProcessor):
            proc.enabled = enabled
