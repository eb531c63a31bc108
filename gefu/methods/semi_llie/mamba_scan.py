"""Mamba's selective scan on every device.

``selective_scan`` has the signature and semantics of ``mamba_ssm``'s ``selective_scan_fn``
(without ``z``): for every channel d and state n,

    h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,        y_t = C_t . h_t + D u_t

with ``delta = softplus(delta + delta_bias)`` when asked. On CUDA it uses ``mamba_ssm``'s kernel
when that package imports (the ``mamba`` extra, built from source against the installed torch
and CUDA: ``pip install --no-build-isolation "gefu-bench[mamba]"``); elsewhere (and with
``backend="torch"``) a pure-PyTorch scan: the sequence is cut into chunks; in each, the decays
and inputs of all steps are computed at once, then ``LinearRecurrence`` runs the one sequential
part, one fused multiply-add per step, with a hand-written backward (the same recurrence,
reversed). While training, each chunk is recomputed in backward from its first state
(``torch.utils.checkpoint``), as the CUDA kernel recomputes its states: memory stays linear in
the sequence length with a small constant (a few floats per element of ``u`` instead of
``2 * d_state``). On a CPU this beat a log-depth parallel prefix scan (which moves
``log2(chunk)`` times more memory): Semi-LLIE's 32x32 training step went from 5.1 s to 1.8 s,
256x256 inference from 54 s to 26 s (``benchmarks/selective_scan.py`` times and measures the
scan itself). ``naive_scan`` is the plain step-by-step loop under autograd, the reference the
tests compare against.

Shapes: u, delta ``[B, D, L]``; A ``[D, N]``; B, C ``[B, G, N, L]`` (G groups share the D
channels evenly) or ``[B, N, L]``; D ``[D]``; delta_bias ``[D]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

CHUNK = 32  # small chunks keep the recurrence in cache: 3x faster on a CPU than 256


def _cuda_kernel():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # not installed, or built for another torch/CUDA
        return None
    return selective_scan_fn


def _prepare(u, delta, A, B, C, delta_bias, delta_softplus):
    """Float32 inputs with B, C as ``[B, G, N, L]``."""
    u, delta, A = u.float(), delta.float(), A.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    B, C = (m.float() if m.ndim == 4 else m.float()[:, None] for m in (B, C))
    return u, delta, A, B, C


def naive_scan(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False):
    """The recurrence step by step (slow; the reference)."""
    u, delta, A, B, C = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    B, C = (m.repeat_interleave(u.shape[1] // m.shape[1], dim=1) for m in (B, C))  # [B,D,N,L]
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[-1]):
        decay = torch.exp(delta[..., t, None] * A)
        h = decay * h + (delta[..., t] * u[..., t])[..., None] * B[..., t]
        ys.append((h * C[..., t]).sum(-1))
    y = torch.stack(ys, -1)
    return y if D is None else y + u * D.float()[None, :, None]


class LinearRecurrence(torch.autograd.Function):
    """All states of ``h_t = a_t * h_{t-1} + b_t`` (time first: a, b ``[T, ...]``, h0 ``[...]``).

    Backward: with ``g_t`` the gradient of state t, ``dh_t = g_t + a_{t+1} dh_{t+1}``; then
    ``db_t = dh_t``, ``da_t = dh_t h_{t-1}`` and ``dh0 = a_0 dh_0``. Each step is written
    into a preallocated row (``out=``), which is 2-3x faster on a CPU than stacking."""

    @staticmethod
    def forward(ctx, a, b, h0):
        states = torch.empty_like(b)
        h = h0
        for t in range(b.shape[0]):
            h = torch.mul(a[t], h, out=states[t]).add_(b[t])
        ctx.save_for_backward(a, states, h0)
        return states

    @staticmethod
    def backward(ctx, grad):
        a, states, h0 = ctx.saved_tensors
        dh = grad.clone(memory_format=torch.contiguous_format)
        for t in range(grad.shape[0] - 2, -1, -1):
            dh[t].addcmul_(a[t + 1], dh[t + 1])
        previous = torch.cat([h0[None], states[:-1]])
        return dh * previous, dh, a[0] * dh[0]


def _chunk_scan(h, u, delta, B, C, log_a, delta_bias, delta_softplus):
    """One chunk (u, delta ``[B, D, T]``; B, C ``[B, G, N, T]``; h ``[B, G, D / G, N]``): its
    outputs ``[B, D, T]`` and last state (a copy, so that keeping it does not keep the chunk's
    states alive). Everything derived from the inputs is made here, so a recomputed chunk
    saves nothing but its inputs."""
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, channels, steps = u.shape
    groups = B.shape[1]
    # time first, channels as [groups, channels per group]: B and C broadcast, never expanded
    dt = delta.permute(2, 0, 1).reshape(steps, batch, groups, -1, 1)
    du = (delta * u).permute(2, 0, 1).reshape(steps, batch, groups, -1, 1)
    b = B.permute(3, 0, 1, 2)[:, :, :, None]  # [T, B, G, 1, N]
    states = LinearRecurrence.apply(torch.exp(dt * log_a), du * b, h)  # [T, B, G, Dg, N]
    y = torch.einsum("tbgdn,bgnt->bgdt", states, C).reshape(batch, channels, steps)
    return y, states[-1].clone()


def torch_scan(
    u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False, chunk=CHUNK, recompute=None
):
    """Pure-PyTorch selective scan (any device, differentiable).

    ``recompute`` (default: whenever a gradient is being recorded) keeps only each chunk's
    inputs and first state for backward and recomputes the chunk there
    (``torch.utils.checkpoint`` per chunk): the scan's own saved memory per element of ``u``
    falls from ``2 * d_state`` floats (every decay and state) to ``d_state / chunk`` + 1."""
    u, delta, A = u.float(), delta.float(), A.float()
    B, C = (m.float() if m.ndim == 4 else m.float()[:, None] for m in (B, C))
    bias = None if delta_bias is None else delta_bias.float()
    batch, channels, length = u.shape
    groups, n = B.shape[1], A.shape[1]
    log_a = A.reshape(groups, -1, n)
    h = u.new_zeros(batch, groups, channels // groups, n)
    if recompute is None:
        recompute = torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (u, delta, A, B, C, bias)
        )
    ys = []
    for start in range(0, length, chunk):
        part = slice(start, start + chunk)
        args = (h, u[..., part], delta[..., part], B[..., part], C[..., part], log_a, bias)
        if recompute:
            y, h = checkpoint(_chunk_scan, *args, delta_softplus, use_reentrant=False)
        else:
            y, h = _chunk_scan(*args, delta_softplus)
        ys.append(y)
    y = torch.cat(ys, -1)
    return y if D is None else y + u * D.float()[None, :, None]


def selective_scan(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    delta_bias=None,
    delta_softplus=False,
    backend: str = "auto",
    recompute=None,
):
    """``backend``: "auto" (CUDA kernel on CUDA tensors when available, else PyTorch),
    "cuda" (the kernel, or an error) or "torch"; ``recompute``: see ``torch_scan``."""
    kernel = _cuda_kernel() if backend != "torch" and u.is_cuda else None
    if backend == "cuda" and kernel is None:
        raise RuntimeError("mamba_ssm's selective scan kernel is unavailable (CUDA tensors needed)")
    if kernel is not None:
        return kernel(
            u.contiguous(),
            delta.contiguous(),
            A.contiguous(),
            B.contiguous(),
            C.contiguous(),
            D,
            z=None,
            delta_bias=delta_bias,
            delta_softplus=delta_softplus,
        )
    return torch_scan(u, delta, A, B, C, D, delta_bias, delta_softplus, recompute=recompute)
