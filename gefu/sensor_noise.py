"""A calibrated raw-sensor noise model: the ELD model of Wei et al., "A Physics-based Noise
Formation Model for Extreme Low-light Raw Denoising" (CVPR 2020), with that paper's published
calibration of the Sony A7S II, the camera of the SID benchmark (Chen et al., "Learning to See in
the Dark", CVPR 2018).

In digital numbers (DN) above the black level, a pixel that collects ``e`` photo-electrons at
system gain ``K`` (DN per electron) reads

    D = round(K * Poisson(e) + N_TL + N_row)

``N_TL``: read noise, Tukey-lambda with shape ``lambda`` and scale ``sigma_TL``; ``N_row``: a
Gaussian offset shared by a whole row, std ``sigma_r``; ``round``: the ADC's quantisation
(ELD models it as uniform noise of one DN). ELD fits ``log sigma = slope * log K + bias`` for
each noise scale.

Every number below is read from ELD's release, ``camera_params/release/SonyA7S2_params.npy`` in
github.com/Vandermode/ELD (commit 39846c7): ``Kmin``/``Kmax`` (the calibrated gain range),
``Profile-1`` ``G_scale`` (Tukey-lambda scale fit) and ``R_scale`` (row-noise fit), and
``G_shape`` (18 fitted Tukey-lambda shapes: the median is used). The fits' residual spread
(their ``sigma``) is not sampled: each level uses the fitted noise scale. Black level 512 and
white level 16383 (14-bit) are SID's for this camera (``train_Sony.py``, ``pack_raw``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Camera:
    black: float  # DN
    white: float  # DN
    k_base: float  # DN per electron at base ISO (ELD's Kmin)
    k_max: float  # DN per electron at the top of the calibrated range (ELD's Kmax)
    tl_shape: float  # Tukey-lambda lambda of the read noise
    tl_scale: tuple[float, float]  # (slope, bias) of log sigma_TL against log K
    row_scale: tuple[float, float]  # (slope, bias) of log sigma_row against log K

    @property
    def span(self) -> float:
        return self.white - self.black

    def scales(self, k: float) -> tuple[float, float]:
        """(sigma_TL, sigma_row) in DN at gain ``k``, from ELD's log-linear fits."""
        import math

        tl = math.exp(self.tl_scale[0] * math.log(k) + self.tl_scale[1])
        row = math.exp(self.row_scale[0] * math.log(k) + self.row_scale[1])
        return tl, row


CAMERAS: dict[str, Camera] = {
    "SonyA7S2": Camera(
        black=512.0,
        white=16383.0,
        k_base=0.09391607086816033,
        k_max=6.010628535562261,
        tl_shape=-0.08571429,  # median of the 18 G_shape values
        tl_scale=(0.46210495986526035, 0.5657147358616816),
        row_scale=(0.5275360468633209, -0.5917002648887661),
    ),
}


def tukey_lambda(shape: float, size, generator: torch.Generator) -> torch.Tensor:
    """Standard Tukey-lambda draws (scipy.stats.tukeylambda's quantile function applied to
    uniforms from ``generator``)."""
    from scipy.stats import tukeylambda

    u = torch.rand(size, generator=generator, dtype=torch.float64)
    u = u.clamp(1e-12, 1 - 1e-12)  # finite tails for lambda <= 0
    return torch.from_numpy(tukeylambda.ppf(u.numpy(), shape))


def raw_capture(
    linear: torch.Tensor,
    ratio: float,
    iso_gain: float,
    camera: str,
    generator: torch.Generator,
) -> torch.Tensor:
    """The short exposure of a scene, as linear values in [0, 1] of the raw range.

    ``linear``: the reference (long) exposure at base ISO, 1 = white level. The capture
    collects ``1/ratio`` of its light at ``iso_gain`` times the base gain, so its mean is
    ``linear * iso_gain / ratio``. Noise as in the module doc; each of the 3 channels is read as
    a raw channel (no mosaic); rows are the image's rows. Drawn on the CPU (float64)."""
    if camera not in CAMERAS:
        raise ValueError(f"unknown camera {camera!r}; choose one of {', '.join(CAMERAS)}")
    cam = CAMERAS[camera]
    k = cam.k_base * iso_gain
    if not (ratio >= 1 and cam.k_base <= k <= cam.k_max * (1 + 1e-9)):
        raise ValueError(
            f"eld needs ratio >= 1 and 1 <= iso_gain <= {cam.k_max / cam.k_base:.1f} "
            f"(the calibrated gain range of {camera}); got ratio {ratio}, iso_gain {iso_gain}"
        )
    x = linear.detach().cpu().double()
    electrons = (x * cam.span / cam.k_base / ratio).clamp_min(0.0)
    signal = torch.poisson(electrons, generator=generator) * k
    sigma_tl, sigma_row = cam.scales(k)
    read = sigma_tl * tukey_lambda(cam.tl_shape, x.shape, generator)
    row_shape = (*x.shape[:-3], 1, x.shape[-2], 1)  # one offset per image row
    row = sigma_row * torch.randn(row_shape, generator=generator, dtype=torch.float64)
    dn = torch.round(signal + read + row).clamp(-cam.black, cam.span)  # ADC range
    out = (dn / cam.span).clamp(0.0, 1.0)
    return out.to(device=linear.device, dtype=linear.dtype)
