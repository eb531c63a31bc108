"""Low-light simulation on ``[3,H,W]`` / ``[B,3,H,W]`` float tensors in [0,1].

Two models, both deterministic given a seed (a local ``torch.Generator``; global RNG state is
never read or changed):

``gamma_curve``
    The HVR-SSLE parametric degradation ``y = C * max(x - k, 0)^e`` with ``e = 1/(1 - alpha^0.2)``
    and ``C = (1 - l)/(1 - k)^e``: ``k`` cuts the shadows to black, ``e`` bends the curve down
    (alpha = 0 gives e = 1) and ``l`` lowers the white point (white maps to ``1 - l``). Noise-free.

``physical``
    A simple camera model: (1) sRGB -> linear light with the inverse sRGB transfer function;
    (2) exposure: linear light times ``exposure`` (a shorter shutter / less light); (3) sensor
    noise: Poisson shot noise on ``linear * full_well`` electrons plus Gaussian read noise of
    ``read_noise`` electrons, divided back by ``full_well``, clipped to [0,1]; (4) linear -> sRGB;
    (5) 8-bit quantization (round to the nearest k/255). Noise is independent per pixel and
    channel (chroma noise, as in a raw image) and is drawn on the CPU, so results do not depend
    on the device.

``eld``
    A calibrated camera (``gefu.sensor_noise``): sRGB -> linear is taken as the reference long
    exposure of a Sony A7S II at base ISO; the capture gets ``1/ratio`` of the light (exposure
    ratios as in SID/ELD: x100, x300) at ``iso_gain`` times the base gain, with ELD's noise
    model and published calibration (Poisson shot noise, Tukey-lambda read noise, row noise,
    ADC rounding); raw -> sRGB; 8-bit. Its mean brightness is ``iso_gain / ratio`` of the
    reference in linear light. Presets (``ELD_PRESETS``): ``"x100"`` and ``"x300"``: SID's
    two exposure ratios at ISO raised 16-fold (ISO 1600 from base ISO 100, the middle of ELD's
    test ISOs 800/1600/3200); ``"extreme"``: x300 at the reference's own (base) ISO, which is
    SID's protocol for its darkest test inputs (input and reference share the ISO; the input
    is the raw short exposure as captured, before SID multiplies it by the ratio). Base ISO 100
    for ELD's ``Kmin`` is an assumption (15871 DN / Kmin = 169,000 e- at white, a full well).

Severity presets (``"mild"``, ``"moderate"``, ``"severe"``) of the first two models were tuned
so that the six ``demo`` photos (clean mean 0.38) end up at a mean sRGB brightness of about
0.20 / 0.095 / 0.045 with either model; gamma_curve severity ``"random"`` samples the HVR-SSLE
training distribution per image.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

# Bump whenever a change here alters any simulated pixel (it is part of dataset fingerprints).
SIMULATOR_VERSION = "1"
MODELS = ("physical", "gamma_curve", "eld")


@dataclass(frozen=True)
class GammaCurveParams:
    alpha: float  # curve bend, [0, 1); the published training range is [0, 0.3]
    k: float  # black cut-off, [0, 1)
    l: float  # white-point drop, [0, 1]  # noqa: E741 (the paper's name)


@dataclass(frozen=True)
class PhysicalParams:
    exposure: float  # factor on linear light, (0, 1]
    full_well: float  # electrons at output white (full-well capacity / analogue gain)
    read_noise: float  # Gaussian read-noise std, in electrons


@dataclass(frozen=True)
class EldParams:
    ratio: float  # exposure ratio to the reference (SID/ELD: 100, 250, 300)
    iso_gain: float  # system gain over the camera's base gain (ISO over base ISO)
    camera: str = "SonyA7S2"


GAMMA_PRESETS: dict[str, GammaCurveParams] = {
    "mild": GammaCurveParams(alpha=0.008, k=0.02, l=0.2),
    "moderate": GammaCurveParams(alpha=0.11, k=0.05, l=0.3),
    "severe": GammaCurveParams(alpha=0.28, k=0.08, l=0.4),
}
# One sensor (4000 e- at output white, 2 e- read noise: a small sensor at base ISO) at three
# exposures (about -1.8, -3.8 and -5.5 EV): noise grows as the light falls, as in a camera.
PHYSICAL_PRESETS: dict[str, PhysicalParams] = {
    "mild": PhysicalParams(exposure=0.28, full_well=4000.0, read_noise=2.0),
    "moderate": PhysicalParams(exposure=0.07, full_well=4000.0, read_noise=2.0),
    "severe": PhysicalParams(exposure=0.022, full_well=4000.0, read_noise=2.0),
}
SEVERITIES = ("mild", "moderate", "severe")
ELD_PRESETS: dict[str, EldParams] = {
    "x100": EldParams(ratio=100.0, iso_gain=16.0),
    "x300": EldParams(ratio=300.0, iso_gain=16.0),
    "extreme": EldParams(ratio=300.0, iso_gain=1.0),
}


# -- building blocks ---------------------------------------------------------------------------
def _check_image(image: torch.Tensor) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4) or image.shape[-3] != 3:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"expected a [3,H,W] or [B,3,H,W] tensor, got {shape}")
    if not image.is_floating_point():
        raise ValueError(f"expected a float tensor in [0,1], got {image.dtype}")
    return image.clamp(0.0, 1.0)


def make_generator(seed: int) -> torch.Generator:
    """A private CPU generator: seeding it leaves the global RNG untouched."""
    return torch.Generator().manual_seed(int(seed))


def image_seed(base_seed: int, name: str) -> int:
    """A per-image seed that is stable across processes (unlike the salted built-in ``hash``)."""
    digest = hashlib.sha256(f"{int(base_seed)}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0


def poisson_gaussian_noise(
    linear: torch.Tensor, full_well: float, read_noise: float, generator: torch.Generator
) -> torch.Tensor:
    """``(Poisson(linear * full_well) + N(0, read_noise^2)) / full_well``, unclipped.

    Mean ``linear``, variance ``linear / full_well + (read_noise / full_well)^2``."""
    rate = (linear.detach().cpu().float() * full_well).clamp_min(0.0)
    electrons = torch.poisson(rate, generator=generator)
    electrons += read_noise * torch.randn(rate.shape, generator=generator)
    return (electrons / full_well).to(device=linear.device, dtype=linear.dtype)


# -- the two models ----------------------------------------------------------------------------
def gamma_curve(image: torch.Tensor, alpha: float, k: float, l: float) -> torch.Tensor:  # noqa: E741
    """``C * max(x - k, 0)^e``, ``e = 1/(1 - alpha^0.2)``, ``C = (1 - l)/(1 - k)^e``; no noise."""
    if not (0.0 <= alpha < 1.0 and 0.0 <= k < 1.0 and 0.0 <= l <= 1.0):
        raise ValueError(f"gamma_curve needs 0<=alpha<1, 0<=k<1, 0<=l<=1; got {alpha}, {k}, {l}")
    x = _check_image(image)
    e = 1.0 / (1.0 - alpha**0.2)
    c = (1.0 - l) / (1.0 - k) ** e
    return (c * (x - k).clamp_min(0.0) ** e).clamp(0.0, 1.0)


def _truncated_normal(
    mean: float, std: float, low: float, high: float, generator: torch.Generator
) -> float:
    """Inverse-CDF sample of N(mean, std^2) restricted to [low, high]."""
    cdf_low, cdf_high = (0.5 * math.erfc(-(v - mean) / (std * math.sqrt(2))) for v in (low, high))
    u = cdf_low + (cdf_high - cdf_low) * torch.rand((), generator=generator, dtype=torch.float64)
    value = mean + std * float(torch.special.ndtri(u))
    return min(max(value, low), high)


def sample_gamma_curve_params(generator: torch.Generator) -> GammaCurveParams:
    """Draw (alpha, k, l) from the HVR-SSLE training distribution.

    alpha ~ U[0, 0.3]; k ~ N(0, 0.1^2) truncated to [0, 0.4]; l ~ N(0, 0.2375^2) truncated to
    [0, 0.95]. The means (0) and the std rule (range / 4) are those of the released training
    config (dwchoo/HVR-SSLE: ``exp_config/config.py``, ``dataset/preprocessing.py``); unlike
    that code, values are not rounded to 3 decimals."""
    alpha = 0.3 * float(torch.rand((), generator=generator, dtype=torch.float64))
    k = _truncated_normal(0.0, 0.4 / 4, 0.0, 0.4, generator)
    l = _truncated_normal(0.0, 0.95 / 4, 0.0, 0.95, generator)  # noqa: E741
    return GammaCurveParams(alpha=alpha, k=k, l=l)


def physical(
    image: torch.Tensor,
    exposure: float,
    full_well: float,
    read_noise: float,
    generator: torch.Generator | None = None,
    quantize: bool = True,
) -> torch.Tensor:
    """sRGB -> linear, times ``exposure``, Poisson-Gaussian noise, -> sRGB, 8-bit (module doc).

    ``generator`` None means a fresh one seeded with 0 (deterministic)."""
    if not (0.0 < exposure <= 1.0 and full_well > 0.0 and read_noise >= 0.0):
        raise ValueError(
            f"physical needs 0<exposure<=1, full_well>0, read_noise>=0; "
            f"got {exposure}, {full_well}, {read_noise}"
        )
    generator = generator if generator is not None else make_generator(0)
    linear = srgb_to_linear(_check_image(image)) * exposure
    noisy = poisson_gaussian_noise(linear, full_well, read_noise, generator).clamp(0.0, 1.0)
    out = linear_to_srgb(noisy)
    return quantize_8bit(out) if quantize else out


def eld(
    image: torch.Tensor,
    ratio: float,
    iso_gain: float,
    camera: str = "SonyA7S2",
    generator: torch.Generator | None = None,
    quantize: bool = True,
) -> torch.Tensor:
    """sRGB -> linear reference, ELD raw capture (``gefu.sensor_noise``), -> sRGB, 8-bit."""
    from gefu.sensor_noise import raw_capture

    generator = generator if generator is not None else make_generator(0)
    linear = srgb_to_linear(_check_image(image))
    out = linear_to_srgb(raw_capture(linear, ratio, iso_gain, camera, generator))
    return quantize_8bit(out) if quantize else out


# -- entry points ------------------------------------------------------------------------------
def resolve_params(
    model: str, severity: str | None = "moderate", params: dict[str, float] | None = None
) -> GammaCurveParams | PhysicalParams | EldParams | None:
    """Explicit ``params`` win over ``severity``; None means "sample per image" (gamma_curve,
    severity ``"random"``)."""
    if model not in MODELS:
        raise ValueError(f"unknown low-light model {model!r}; choose one of {', '.join(MODELS)}")
    cls, presets = {
        "physical": (PhysicalParams, PHYSICAL_PRESETS),
        "gamma_curve": (GammaCurveParams, GAMMA_PRESETS),
        "eld": (EldParams, ELD_PRESETS),
    }[model]
    if params is not None:
        return cls(**params)
    if model == "gamma_curve" and severity == "random":
        return None
    if severity not in presets:
        extra = ", random" if model == "gamma_curve" else ""
        raise ValueError(
            f"unknown severity {severity!r} for {model}; choose one of {', '.join(presets)}{extra}"
        )
    return presets[severity]


class LowLightSimulator:
    """A seeded darkening transform: ``sim(image, name=...)``.

    With a ``name`` the seed is ``image_seed(seed, name)``, so each image gets its own noise
    (and, for gamma_curve severity ``"random"``, its own curve) independent of order."""

    def __init__(
        self,
        model: str = "physical",
        severity: str | None = "moderate",
        params: dict[str, float] | None = None,
        seed: int = 0,
        quantize: bool = True,
    ):
        self.model, self.seed, self.quantize = model, int(seed), quantize
        self.severity = None if params is not None else severity
        self.params = resolve_params(model, severity, params)

    def config(self) -> dict[str, Any]:
        """Everything that determines the output (for metadata and cache keys)."""
        return {
            "model": self.model,
            "severity": self.severity,
            "params": asdict(self.params) if self.params is not None else None,
            "seed": self.seed,
            "quantize": self.quantize,
            "simulator_version": SIMULATOR_VERSION,
        }

    def __repr__(self) -> str:
        return f"LowLightSimulator({self.config()})"

    def __call__(self, image: torch.Tensor, name: str | None = None) -> torch.Tensor:
        generator = make_generator(self.seed if name is None else image_seed(self.seed, name))
        if self.model == "physical":
            p = self.params
            return physical(image, p.exposure, p.full_well, p.read_noise, generator, self.quantize)
        if self.model == "eld":
            p = self.params
            return eld(image, p.ratio, p.iso_gain, p.camera, generator, self.quantize)
        p = self.params if self.params is not None else sample_gamma_curve_params(generator)
        out = gamma_curve(image, p.alpha, p.k, p.l)
        return quantize_8bit(out) if self.quantize else out


def darken(
    image: torch.Tensor, model: str = "physical", severity: str = "moderate", seed: int = 0
) -> torch.Tensor:
    """Darken ``image`` with a preset; the same ``seed`` gives the same pixels."""
    return LowLightSimulator(model, severity, seed=seed)(image)
