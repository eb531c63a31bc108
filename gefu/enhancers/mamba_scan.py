"""Mamba's selective scan on every device.

``selective_scan`` has the signature and semantics of ``mamba_ssm``'s ``selective_scan_fn``
(without ``z``): for every channel d and state n,

    h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,        y_t = C_t . h_t + D u_t

with ``delta = softplus(delta + delta_bias)`` when asked. On CUDA it uses ``mamba_ssm``'s kernel
when that package imports; elsewhere (and with ``backend="torch"``) a pure-PyTorch scan: the
sequence is cut into chunks, each chunk solved with a parallel (Hillis-Steele) prefix scan of
the linear recurrence, the last state carried to the next chunk. ``naive_scan`` is the plain
sequential loop, the reference the tests compare both against.

Shapes: u, delta ``[B, D, L]``; A ``[D, N]``; B, C ``[B, G, N, L]`` (G groups share the D
channels evenly) or ``[B, N, L]``; D ``[D]``; delta_bias ``[D]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CHUNK = 128


def _cuda_kernel():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # not installed, or built for another torch/CUDA
        return None
    return selective_scan_fn


def _prepare(u, delta, A, B, C, delta_bias, delta_softplus):
    """Float32 inputs with B, C as ``[B, D, N, L]`` (groups expanded over their channels)."""
    u, delta, A = u.float(), delta.float(), A.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    channels = u.shape[1]

    def expand(m):
        m = m.float()
        if m.ndim == 3:
            m = m[:, None]
        return m.repeat_interleave(channels // m.shape[1], dim=1)

    return u, delta, A, expand(B), expand(C)


def naive_scan(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False):
    """The recurrence step by step (slow; the reference)."""
    u, delta, A, B, C = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[-1]):
        decay = torch.exp(delta[..., t, None] * A)
        h = decay * h + (delta[..., t] * u[..., t])[..., None] * B[..., t]
        ys.append((h * C[..., t]).sum(-1))
    y = torch.stack(ys, -1)
    return y if D is None else y + u * D.float()[None, :, None]


def _chunk_scan(decay, inject, h0):
    """All states of ``h_t = decay_t h_{t-1} + inject_t`` (time on dim 2) from ``h0``: a
    log-depth prefix scan of the affine maps (decay, inject)."""
    inject = torch.cat([(decay[:, :, :1] * h0[:, :, None]) + inject[:, :, :1], inject[:, :, 1:]], 2)
    a, b = decay, inject
    step = 1
    while step < a.shape[2]:
        # compose each map with the one `step` earlier: (a1,b1) then (a2,b2) = (a2 a1, a2 b1 + b2)
        b = torch.cat([b[:, :, :step], a[:, :, step:] * b[:, :, :-step] + b[:, :, step:]], 2)
        a = torch.cat([a[:, :, :step], a[:, :, step:] * a[:, :, :-step]], 2)
        step *= 2
    return b


def torch_scan(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False, chunk=CHUNK):
    """Pure-PyTorch selective scan (any device, differentiable)."""
    u, delta, A, B, C = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for start in range(0, u.shape[-1], chunk):
        part = slice(start, start + chunk)
        dt = delta[..., part].transpose(1, 2)[..., None]  # [B, T, D, 1]
        decay = torch.exp(dt * A).transpose(1, 2)  # [B, D, T, N]
        inject = (delta[..., part] * u[..., part])[..., None] * B[..., part].transpose(2, 3)
        states = _chunk_scan(decay, inject, h)  # [B, D, T, N]
        ys.append((states * C[..., part].transpose(2, 3)).sum(-1))
        h = states[:, :, -1]
    y = torch.cat(ys, -1)
    return y if D is None else y + u * D.float()[None, :, None]


def selective_scan(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False,
                   backend: str = "auto"):  # fmt: skip
    """``backend``: "auto" (CUDA kernel on CUDA tensors when available, else PyTorch),
    "cuda" (the kernel, or an error) or "torch"."""
    kernel = _cuda_kernel() if backend != "torch" and u.is_cuda else None
    if backend == "cuda" and kernel is None:
        raise RuntimeError("mamba_ssm's selective scan kernel is unavailable (CUDA tensors needed)")
    if kernel is not None:
        return kernel(u.contiguous(), delta.contiguous(), A.contiguous(), B.contiguous(),
                      C.contiguous(), D, z=None, delta_bias=delta_bias,
                      delta_softplus=delta_softplus)  # fmt: skip
    return torch_scan(u, delta, A, B, C, D, delta_bias, delta_softplus)
