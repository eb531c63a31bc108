"""Multi-scale Retinex with colour restoration (Jobson, Rahman & Woodell, IEEE TIP 1997)."""

from __future__ import annotations

import math

import torch

from gefu.enhancers.base import Enhancer


def gaussian_blur_mirror(x: torch.Tensor, sigmas: tuple[float, ...]) -> list[torch.Tensor]:
    """Gaussian blurs of ``[...,H,W]`` with mirror ("reflect", edge pixel repeated) boundaries.

    The image mirrored once in each axis, ``2H x 2W``, is one period of its infinite mirror
    extension, so a circular convolution over it equals a linear convolution of that
    extension: exact for any sigma, even one larger than the image, where plain padding fails.
    The kernel is applied in the Fourier domain through the Gaussian's transfer function
    ``exp(-2 pi^2 sigma^2 f^2)``, which matches the sampled, normalised kernel up to aliasing of
    order ``exp(-pi^2 sigma^2 / 2)`` (below 1e-8 for sigma >= 2). One forward FFT serves every
    sigma; the cost is O(HW log HW) whatever the sigma.
    """
    h, w = x.shape[-2:]
    ext = torch.cat([x, x.flip(-2)], dim=-2)
    ext = torch.cat([ext, ext.flip(-1)], dim=-1)
    spectrum = torch.fft.rfft2(ext)
    fy = torch.fft.fftfreq(2 * h, device=x.device, dtype=x.dtype).view(-1, 1)
    fx = torch.fft.rfftfreq(2 * w, device=x.device, dtype=x.dtype).view(1, -1)
    f2 = fy**2 + fx**2
    outs = []
    for sigma in sigmas:
        transfer = torch.exp(-2 * math.pi**2 * sigma**2 * f2)
        blurred = torch.fft.irfft2(spectrum * transfer, s=(2 * h, 2 * w))
        outs.append(blurred[..., :h, :w])
    return outs


def simplest_color_balance(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Per image and channel, map the ``low``-th and ``(100-high)``-th percentiles to 0 and 1.

    A channel with no spread left after clipping yields NaN here; the caller decides.
    """
    flat = x.flatten(2)  # [B, C, N]
    n = flat.shape[-1]
    k_lo = min(n, max(1, int(math.floor(n * low / 100)) + 1))
    k_hi = max(1, min(n, int(math.ceil(n * (1 - high / 100)))))
    lo = flat.kthvalue(k_lo, dim=-1).values[..., None, None]
    hi = flat.kthvalue(max(k_hi, k_lo), dim=-1).values[..., None, None]
    span = hi - lo
    out = ((x - lo) / span).clamp(0, 1)
    return torch.where(span > 1e-6 * hi.abs().clamp(min=1), out, torch.nan)


class MSRCR(Enhancer):
    """Multi-scale Retinex with colour restoration, then a simplest-colour-balance stretch.

    With ``I`` the 8-bit-scaled input plus one (so ``log`` stays finite):
    ``R_MSR = sum_n w_n (log I - log(G_sigma_n * I))`` with equal weights,
    ``C = beta * (log(alpha * I) - log(sum_c I_c))`` and ``R = gain * (C * R_MSR + offset)``
    (the paper's constants: alpha=125, beta=46, gain=192, offset=-30). Each channel is then
    stretched between its ``low_clip`` and ``100 - high_clip`` percentiles (percent of pixels
    saturated at each end). The stretch is affine-invariant, so gain and offset matter only
    when ``balance=False``, which clamps ``R / 255`` instead. Blurs: ``gaussian_blur_mirror``.
    A channel left flat (a uniform image) is passed through unchanged.
    """

    def __init__(
        self,
        sigmas: tuple[float, ...] = (15.0, 80.0, 250.0),
        alpha: float = 125.0,
        beta: float = 46.0,
        gain: float = 192.0,
        offset: float = -30.0,
        low_clip: float = 1.0,
        high_clip: float = 1.0,
        balance: bool = True,
    ):
        super().__init__()
        sigmas = tuple(float(s) for s in sigmas)
        if not sigmas or any(not (s > 0 and math.isfinite(s)) for s in sigmas):
            raise ValueError(f"msrcr: sigmas must be positive numbers, got {sigmas!r}")
        if not alpha > 0:
            raise ValueError(f"msrcr: alpha must be > 0, got {alpha!r}")
        if not gain > 0:
            raise ValueError(f"msrcr: gain must be > 0, got {gain!r}")
        for name, value in (("low_clip", low_clip), ("high_clip", high_clip)):
            if not 0 <= value < 50:
                raise ValueError(f"msrcr: {name} must be a percentage in [0, 50), got {value!r}")
        self.sigmas, self.alpha, self.beta = sigmas, float(alpha), float(beta)
        self.gain, self.offset, self.balance = float(gain), float(offset), bool(balance)
        self.low_clip, self.high_clip = float(low_clip), float(high_clip)
        self.hparams = {
            "sigmas": list(sigmas),
            "alpha": self.alpha,
            "beta": self.beta,
            "gain": self.gain,
            "offset": self.offset,
            "low_clip": self.low_clip,
            "high_clip": self.high_clip,
            "balance": self.balance,
        }

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(0, 1)
        img = x * 255.0 + 1.0
        log_img = torch.log(img)
        blurs = gaussian_blur_mirror(img, self.sigmas)
        msr = sum(log_img - torch.log(b.clamp(min=0.5)) for b in blurs)
        msr = msr / len(self.sigmas)
        restoration = self.beta * (math.log(self.alpha) + log_img - torch.log(img.sum(1, True)))
        r = self.gain * (restoration * msr + self.offset)
        if not self.balance:
            return (r / 255.0).clamp(0, 1)
        out = simplest_color_balance(r, self.low_clip, self.high_clip)
        return torch.where(torch.isnan(out), x, out)
