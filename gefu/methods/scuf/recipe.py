"""SCUF unsupervised fine-tuning (released ``src/train.py``), on ``gefu.methods.scuf.network``.

Per step, as released: four generator updates (cycle A, cycle B, GAN, identity; one shared
AdamW "gen") and two discriminator updates (fake, real; AdamW "disc"), each clipped and
followed by its scheduler step (constant learning rate, as released: its README trains with
``--lr_scheduler constant``, which ignores the warm-up argument; ``warmup: N`` adds a linear
warm-up over N scheduler steps, the code's 500-step default for other schedules). Image
prompts as released: the first translation of a real image uses its
reversed V map, the back-translation and identity its plain V map.

Deviations: one frozen CLIP image encoder (SCUF's) is shared by the image prompt and both
vision-aided discriminators (the release loads three copies; outputs are identical), whose
trainable heads are ours (per level: LayerNorm + MLP on [CLS, mean token]); the caption
teacher is the same UNet with the adapter switched off (the release deep-copies it);
the reflectance decoder trains its own skip-conv LoRA (the release lists b2a's twice).
LPIPS-VGG needs ``lpips_weights`` (pyiqa's LPIPS file, and torchvision's VGG16 in its
cache): without it the LPIPS terms are off, with a warning.

Reflectance teacher (``retinexnet``): the released ``retinexnet/decomp.pth`` of wangsen99/GEFU
(MIT; read with ``weights_only=True`` through ``gefu.methods.retinexnet.network.load_decomnet``),
or a RetinexNet trained with ``gefu train retinexnet``. Prompts: the bright a2b prompt and the
dark b2a prompt are the release's ``fixed_prompt_b.txt`` / ``fixed_prompt_a.txt`` texts
(``gefu.methods.scuf.network``), or those files in ``data.captions`` when present. The trained
enhancer samples its latents at inference, as released (``sample_latents``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from gefu.core.specs import DatasetSpec
from gefu.core.strict import StrictModel, validate
from gefu.train.method import MethodConfig, TrainMethod


class SCUFConfig(MethodConfig):
    base: str = "stabilityai/sd-turbo"  # or a local folder, or "tiny"
    clip: str = "openai/clip-vit-base-patch32"
    local_files_only: bool = True
    lora_rank: int = 4
    lr: float = 1e-5  # the README's command (the code's default is 5e-6)
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup: int = Field(0, ge=0)  # linear warm-up, scheduler steps; 0: constant (released)
    lambda_cycle: float = 1.0
    lambda_cycle_lpips: float = 10.0
    lambda_gan: float = 0.5
    lambda_idt: float = 1.0
    lambda_idt_lpips: float = 1.0
    prompt_a2b: str | None = None  # None: the bright prompt (fixed_prompt_b.txt if in data)
    prompt_b2a: str | None = None  # None: the released dark prompt (fixed_prompt_a.txt)
    # frozen DecomNet: the released decomp.pth (or a folder holding it), or a suite checkpoint
    retinexnet: str | None = "weights/retinexnet/decomp.pth"
    sample_latents: bool = True  # the trained enhancer's inference (released: sampled)
    lpips_weights: str | None = None
    disc_levels: int = 3
    gradient_checkpointing: bool = False
    random_teachers: bool = False  # tests only: random DecomNet and LPIPS
    # torch CPU threads for the run (None: torch's default). 1 for the tiny configuration: its
    # ops take microseconds, and OpenMP synchronisation across threads on a busy CPU made each
    # one ~250x slower (a tiny step took ~25 s with 2 threads, <1 s with 1).
    cpu_threads: int | None = Field(None, ge=1)

    release_switches: ClassVar[dict[str, Any]] = {"warmup": 0, "sample_latents": True}


class SCUFData(StrictModel):
    """Domain A (low light) and domain B (normal light): dataset entries as in a benchmark
    (``darkened``: photos darkened on the fly with ``gefu.simulate``); ``captions``: a folder
    with the release's caption and prompt files (enlight_low.csv, enlight_high.csv:
    tab-separated ``filepath``/``title``; fixed_prompt_a/b.txt), where it has them."""

    low: DatasetSpec
    normal: DatasetSpec
    captions: str | None = None
    resize: int = 384  # square, as released
    crop: int = 256
    flip: bool = True
    default_caption: str = "a photo."


def warmup_factor(step: int, warmup: int) -> float:
    """Learning-rate multiple at scheduler step ``step``: linear over ``warmup`` steps, then 1;
    always 1 for ``warmup`` 0 (the released constant schedule)."""
    return 1.0 if warmup == 0 else min(1.0, (step + 1) / warmup)


def read_captions(csv: Path) -> dict[str, str]:
    import csv as _csv

    with open(csv, newline="") as f:
        return {
            Path(r["filepath"]).name: str(r["title"]) for r in _csv.DictReader(f, delimiter="\t")
        }


class Domain(torch.utils.data.Dataset):
    """A dataset's images (or darkened photos) -> {"image": [0,1] crop, "caption": str}."""

    def __init__(self, spec: DatasetSpec, where: str, captions: dict[str, str], d: SCUFData):
        from gefu.train.data import DarkenedPatches
        from gefu.train.sources import open_source

        self.reader, darkening = open_source(spec, where)
        self.captions, self.d = captions, d
        self.darkener = None
        if darkening is not None:
            self.darkener = DarkenedPatches(
                self.reader, d.crop, model=darkening.model, severity=darkening.severity
            )
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, item):
        import torch.nn.functional as F

        from gefu.train.data import random_patch

        index, seed = item
        gen = torch.Generator().manual_seed(int(seed))
        if index not in self._cache:
            img = self.reader.load(index).image[None]
            size = (self.d.resize, self.d.resize)
            self._cache[index] = F.interpolate(
                img, size, mode="bicubic", antialias=True, align_corners=False
            )[0].clamp(0, 1)
        image = random_patch(self._cache[index], self.d.crop, gen, self.d.flip)
        if self.darkener is not None:
            image = self.darkener.darken(image, gen)
        caption = self.captions.get(self.reader.name_of(index), self.d.default_caption)
        return {"image": image, "caption": caption}


class CLIPDiscriminator(nn.Module):
    """Vision-aided discriminator: a frozen CLIP image encoder (not a submodule: shared,
    never saved) and trainable heads on ``levels`` evenly spaced layers."""

    def __init__(self, clip_vision, levels: int = 3, hidden: int = 256):
        super().__init__()
        self._clip = [clip_vision]
        cfg = clip_vision.config
        n = cfg.num_hidden_layers
        self.layers = sorted({round(n * (i + 1) / levels) for i in range(levels)})
        d = cfg.hidden_size
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(2 * d),
                nn.Linear(2 * d, hidden),
                nn.LeakyReLU(0.2),
                nn.Linear(hidden, 1),
            )
            for _ in self.layers
        )
        self.register_buffer("mean", torch.tensor([0.4815, 0.4578, 0.4082]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.2686, 0.2613, 0.2758]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        import torch.nn.functional as F

        clip = self._clip[0]
        size = clip.config.image_size
        x = F.interpolate((x + 1) / 2, (size, size), mode="bicubic", align_corners=False)
        states = clip.vision_model(
            pixel_values=(x - self.mean) / self.std, output_hidden_states=True
        ).hidden_states
        out = []
        for head, layer in zip(self.heads, self.layers, strict=True):
            h = states[layer]
            out.append(head(torch.cat([h[:, 0], h[:, 1:].mean(1)], -1)).squeeze(-1))
        return out


class RandomFeatureDistance(nn.Module):
    """LPIPS-shaped stand-in for tests (``random_teachers``): unit-normalised features of a
    frozen random conv layer, squared distance averaged. Never used for real training."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1).requires_grad_(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = (torch.relu(self.conv(t * 2 - 1)) for t in (x, y))
        fx, fy = (f / (f.norm(dim=1, keepdim=True) + 1e-10) for f in (fx, fy))
        return ((fx - fy) ** 2).sum(1).mean((1, 2))


class SCUFTraining(TrainMethod):
    enhancer = "scuf"
    Config = SCUFConfig
    Data = SCUFData

    def __init__(self, config: SCUFConfig, data: dict[str, Any]):
        super().__init__(config, data)
        self.data_config = validate(SCUFData, data, "data")
        self._modules = self._sets = None
        self.prompts = {"a2b": config.prompt_a2b, "b2a": config.prompt_b2a}
        self._teachers = None

    def modules(self):
        if self._modules is None:
            from gefu.methods.scuf.network import BRIGHT_PROMPT, DARK_PROMPT, SCUF

            self.datasets()
            c = self.config
            if c.cpu_threads is not None:
                torch.set_num_threads(c.cpu_threads)
            model = SCUF(
                base=c.base,
                clip=c.clip,
                local_files_only=c.local_files_only,
                lora_rank=c.lora_rank,
                prompt_a2b=self.prompts["a2b"] or BRIGHT_PROMPT,
                prompt_b2a=self.prompts["b2a"] or DARK_PROMPT,
                gradient_checkpointing=c.gradient_checkpointing,
                sample_latents=c.sample_latents,
            )
            self._modules = {
                "model": model,
                "disc_a": CLIPDiscriminator(model.clip_vision, c.disc_levels),
                "disc_b": CLIPDiscriminator(model.clip_vision, c.disc_levels),
            }
        return self._modules

    def optimizers(self, modules):
        c = self.config

        def adamw(params):
            opt = torch.optim.AdamW(
                params, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay, foreach=True
            )
            warm = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_factor(s, c.warmup))
            return opt, warm

        disc = list(modules["disc_a"].parameters()) + list(modules["disc_b"].parameters())
        return {"gen": adamw(modules["model"].trainable_parameters()), "disc": adamw(disc)}

    def datasets(self):
        if self._sets is None:
            d = self.data_config
            caps: dict[str, dict[str, str]] = {"a": {}, "b": {}}
            if d.captions is not None:
                root = Path(d.captions).expanduser()
                caps = {
                    n: read_captions(root / f) if (root / f).is_file() else {}
                    for n, f in (("a", "enlight_low.csv"), ("b", "enlight_high.csv"))
                }
                for key, f in (("b2a", "fixed_prompt_a.txt"), ("a2b", "fixed_prompt_b.txt")):
                    if self.prompts[key] is None and (root / f).is_file():
                        self.prompts[key] = (root / f).read_text().strip()
            low = Domain(d.low, "data.low", caps["a"], d)
            normal = Domain(d.normal, "data.normal", caps["b"], d)
            self._sets = {"low": low, "normal": normal}
        return self._sets

    def teachers(self, device):
        """(frozen DecomNet, LPIPS-VGG or None)."""
        if self._teachers is None:
            c = self.config
            from gefu.methods.retinexnet.network import DecomNet, load_decomnet

            if c.random_teachers:
                decom = DecomNet().to(device).eval().requires_grad_(False)
            elif c.retinexnet is not None and Path(c.retinexnet).expanduser().exists():
                decom = load_decomnet(c.retinexnet, device)
            else:
                raise FileNotFoundError(
                    f"params.retinexnet: the frozen RetinexNet DecomNet is required"
                    f"{'' if c.retinexnet is None else f' ({c.retinexnet} does not exist)'}: "
                    "the released retinexnet/decomp.pth of https://github.com/wangsen99/GEFU, "
                    "or a model trained with `gefu train retinexnet`"
                )
            lpips = None
            if c.lpips_weights is not None:
                from pyiqa.archs.lpips_arch import LPIPS

                lpips = LPIPS(net="vgg", pretrained_model_path=c.lpips_weights)
                lpips = lpips.to(device).eval().requires_grad_(False)
            elif c.random_teachers:
                lpips = RandomFeatureDistance().to(device)
            else:
                warnings.warn(
                    "SCUF: no params.lpips_weights: the LPIPS-VGG terms of the cycle "
                    "and identity losses are OFF",
                    stacklevel=2,
                )
            self._teachers = (decom, lpips)
        return self._teachers

    def train_step(self, batch, ctx):
        from gefu.methods.scuf import losses as L

        c, m = self.config, self.modules()
        model, disc_a, disc_b = m["model"], m["disc_a"], m["disc_b"]
        decom, lpips = self.teachers(ctx.device)
        a01, b01 = batch["low"]["image"], batch["normal"]["image"]
        a, b = a01 * 2 - 1, b01 * 2 - 1
        fixed = {k: model.text_embedding([model.hparams[f"prompt_{k}"]]) for k in ("a2b", "b2a")}
        cap_a = model.text_embedding(list(batch["low"]["caption"]))
        cap_b = model.text_embedding(list(batch["normal"]["caption"]))
        pa, pa_r = model.image_prompt(a01, False), model.image_prompt(a01, True)
        pb, pb_r = model.image_prompt(b01, False), model.image_prompt(b01, True)
        with torch.no_grad():
            r_a, r_b = decom(a01)[0], decom(b01)[0]
        log = {}

        def gen_update(loss):
            ctx.backward(loss, "gen")
            ctx.step_optimizer("gen")

        def rec(x, y, wl1, wlp):
            return L.reconstruction(x, y, lpips, wl1, wlp)

        for name, x, r, d1, d2, p1, p2, cap in (
            ("a", a, r_a, "a2b", "b2a", pa_r, pa, cap_a),
            ("b", b, r_b, "b2a", "a2b", pb_r, pb, cap_b),
        ):  # cycle x -> fake -> rec
            teacher = model.teacher_latent(x, d1, cap)
            fake, _, r_fake = model.translate(x, d1, fixed[d1], p1, reflectance=True)
            back, z_rec, r_rec = model.translate(fake, d2, fixed[d2], p2, reflectance=True)
            cyc = rec(back, x, c.lambda_cycle, c.lambda_cycle_lpips)
            ref = L.reflectance(r_rec, r) + L.reflectance_agreement(r_fake, r_rec)
            cap_loss = L.caption_consistency(z_rec, teacher)
            gen_update(cyc + ref + cap_loss)
            log |= {
                f"cycle_{name}": cyc.item(),
                f"ref_{name}": ref.item(),
                f"caption_{name}": cap_loss.item(),
            }
        fake_a, _ = model.translate(b, "b2a", fixed["b2a"], pb_r)
        fake_b, _ = model.translate(a, "a2b", fixed["a2b"], pa_r)
        gan = (L.gan_bce(disc_a(fake_b), True) + L.gan_bce(disc_b(fake_a), True)) * c.lambda_gan
        gen_update(gan)
        teach_a, teach_b = (
            model.teacher_latent(a, "a2b", cap_a),
            model.teacher_latent(b, "b2a", cap_b),
        )
        idt_a, z_ia, r_ia = model.translate(b, "a2b", fixed["a2b"], pb, reflectance=True)
        idt_b, z_ib, r_ib = model.translate(a, "b2a", fixed["b2a"], pa, reflectance=True)
        idt = rec(idt_a, b, c.lambda_idt, c.lambda_idt_lpips) + rec(
            idt_b, a, c.lambda_idt, c.lambda_idt_lpips
        )
        idt_ref = L.reflectance(r_ia, r_b) + L.reflectance(r_ib, r_a)
        idt_cap = L.caption_consistency(z_ia, teach_b) + L.caption_consistency(z_ib, teach_a)
        gen_update(idt + idt_ref + idt_cap)
        d_fake = (
            L.gan_bce(disc_a(fake_b.detach()), False) + L.gan_bce(disc_b(fake_a.detach()), False)
        ) * c.lambda_gan
        ctx.backward(d_fake, "disc")
        ctx.step_optimizer("disc")
        d_real = (L.gan_bce(disc_a(b), True) + L.gan_bce(disc_b(a), True)) * c.lambda_gan
        ctx.backward(d_real, "disc")
        ctx.step_optimizer("disc")
        log |= {
            "gan": gan.item(),
            "identity": idt.item(),
            "identity_ref": idt_ref.item(),
            "identity_caption": idt_cap.item(),
            "disc_fake": d_fake.item(),
            "disc_real": d_real.item(),
        }
        log["total"] = sum(v for k, v in log.items() if not k.startswith("disc"))
        return log
