"""SCUF's building blocks from diffusers / transformers / peft.

Sources: a local folder or hub id in the diffusers layout (``stabilityai/sd-turbo``:
``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``) and a CLIP image
model (``openai/clip-vit-base-patch32``); ``"tiny"`` builds random few-thousand-parameter
versions (tests, CPU demos; seeded, so a checkpoint can reference them); ``"full-config"``
builds the published SD-Turbo / CLIP ViT-B/32 architectures with random weights (counting,
GPU benchmarks; combine with ``torch.device("meta")`` to allocate nothing).
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

VAE_LORA_TARGETS = [
    "conv1",
    "conv2",
    "conv_in",
    "conv_shortcut",
    "conv",
    "conv_out",
    "skip_conv_1",
    "skip_conv_2",
    "skip_conv_3",
    "skip_conv_4",
    "to_k",
    "to_q",
    "to_v",
    "to_out.0",
]
LORA_ADAPTER = "vae_skip"  # the released adapter name (same state-dict keys)
SD_TURBO, CLIP_B32 = "stabilityai/sd-turbo", "openai/clip-vit-base-patch32"


def _configs(kind: str) -> dict:
    """Constructor kwargs of the UNet, VAE, CLIP text and vision models."""
    if kind == "tiny":
        return {
            "unet": dict(
                sample_size=8,
                layers_per_block=1,
                block_out_channels=(8, 16),
                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                cross_attention_dim=16,
                attention_head_dim=2,
                norm_num_groups=4,
                use_linear_projection=True,
            ),
            "vae": dict(
                block_out_channels=(8, 16),
                layers_per_block=1,
                norm_num_groups=4,
                down_block_types=("DownEncoderBlock2D",) * 2,
                latent_channels=4,
                up_block_types=("UpDecoderBlock2D",) * 2,
                sample_size=32,
            ),
            "text": dict(
                vocab_size=1000,
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                max_position_embeddings=16,
                projection_dim=16,
                bos_token_id=998,
                eos_token_id=999,
                pad_token_id=0,
            ),
            "vision": dict(
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                image_size=16,
                patch_size=8,
                projection_dim=8,
            ),
        }
    return {  # the published SD-Turbo (SD 2.1 architecture) and CLIP ViT-B/32 configs
        "unet": dict(
            sample_size=64,
            layers_per_block=2,
            block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            cross_attention_dim=1024,
            attention_head_dim=(5, 10, 20, 20),
            use_linear_projection=True,
        ),
        "vae": dict(
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            down_block_types=("DownEncoderBlock2D",) * 4,
            latent_channels=4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            sample_size=768,
        ),
        "text": dict(
            vocab_size=49408,
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=23,
            num_attention_heads=16,
            max_position_embeddings=77,
            hidden_act="gelu",
            projection_dim=512,
        ),
        "vision": dict(
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            image_size=224,
            patch_size=32,
            projection_dim=512,
        ),
    }


class HashTokenizer:
    """Stand-in for the CLIP tokenizer of random tiny text encoders: words -> stable ids."""

    def __init__(self, vocab_size: int, max_length: int):
        self.vocab_size, self.model_max_length = vocab_size, max_length

    def __call__(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            ids = [
                int(hashlib.md5(w.encode()).hexdigest(), 16) % (self.vocab_size - 2) + 1
                for w in text.lower().split()
            ][: self.model_max_length - 1]
            ids.append(self.vocab_size - 1)
            rows.append(ids + [0] * (self.model_max_length - len(ids)))
        return torch.tensor(rows)


class _ClipTokenizer:
    def __init__(self, tok):
        self.tok, self.model_max_length = tok, tok.model_max_length

    def __call__(self, texts: list[str]) -> torch.Tensor:
        return self.tok(
            texts,
            max_length=self.model_max_length,
            padding="max_length",
            truncation=True,
            return_tensors="pt",
        ).input_ids


def _offline_error(what: str, source: str, exc: Exception) -> OSError:
    return OSError(
        f"SCUF: cannot load {what} from {source!r} ({type(exc).__name__}: {exc}). Download it "
        f"once with `huggingface-cli download {source}` (or copy the folder here) and pass the "
        "local folder, or allow downloads with local_files_only=false."
    )


def load_base(source: str, local_files_only: bool = True, seed: int = 0):
    """(unet, vae, text_encoder, tokenizer, scheduler config dict) — all frozen."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    if source in ("tiny", "full-config"):
        cfg = _configs("tiny" if source == "tiny" else "full")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unet = UNet2DConditionModel(**cfg["unet"])
            vae = AutoencoderKL(**cfg["vae"])
            text = CLIPTextModel(CLIPTextConfig(**cfg["text"]))
        t = cfg["text"]
        tokenizer = HashTokenizer(t["vocab_size"], t["max_position_embeddings"])
        sched = {}
    else:
        kw = {"local_files_only": local_files_only}
        try:
            unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet", **kw)
            vae = AutoencoderKL.from_pretrained(source, subfolder="vae", **kw)
            text = CLIPTextModel.from_pretrained(source, subfolder="text_encoder", **kw)
            from transformers import CLIPTokenizer

            tokenizer = _ClipTokenizer(
                CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", **kw)
            )
            from diffusers import DDPMScheduler

            sched = dict(DDPMScheduler.from_pretrained(source, subfolder="scheduler", **kw).config)
        except (OSError, ValueError) as exc:
            raise _offline_error("the SD-Turbo components", source, exc) from None
    for m in (unet, vae, text):
        m.requires_grad_(False)
    return unet, vae, text.eval(), tokenizer, sched


def load_clip_vision(source: str, local_files_only: bool = True, seed: int = 0):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    if source in ("tiny", "full-config"):
        cfg = _configs("tiny" if source == "tiny" else "full")["vision"]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            model = CLIPVisionModelWithProjection(CLIPVisionConfig(**cfg))
    else:
        try:
            model = CLIPVisionModelWithProjection.from_pretrained(
                source, local_files_only=local_files_only
            )
        except (OSError, ValueError) as exc:
            raise _offline_error("the CLIP image encoder", source, exc) from None
    return model.eval().requires_grad_(False)


def one_step_alpha(sched: dict) -> tuple[float, str]:
    """(alpha_cumprod at the last training timestep, prediction type) of the base scheduler."""
    from diffusers import DDPMScheduler

    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "prediction_type")
    kwargs = {k: sched[k] for k in keys if k in sched} or dict(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012
    )
    with torch.device("cpu"):  # also when the model is built on the meta device
        s = DDPMScheduler(**kwargs)
    return float(s.alphas_cumprod[-1]), s.config.prediction_type


# -- the VAE with encoder->decoder skips and LoRA ----------------------------------------
def add_skips_and_lora(vae, rank: int) -> None:
    """The four (one per resolution) 1x1 skip convs, constant 1e-5, then LoRA (rank ``rank``,
    Gaussian A / zero B) on the released target layers. As in the release, peft then leaves
    only the LoRA matrices trainable (the skip convs' base weights stay at 1e-5)."""
    from peft import LoraConfig

    enc_in = _encoder_skip_channels(vae)[::-1]
    blocks = list(vae.config.block_out_channels)[::-1]
    dec_in = [blocks[max(i - 1, 0)] for i in range(len(blocks))]
    for i, (cin, cout) in enumerate(zip(enc_in, dec_in, strict=True)):
        conv = nn.Conv2d(cin, cout, 1, bias=False)
        nn.init.constant_(conv.weight, 1e-5)
        setattr(vae.decoder, f"skip_conv_{i + 1}", conv)
    vae.add_adapter(
        LoraConfig(r=rank, init_lora_weights="gaussian", target_modules=VAE_LORA_TARGETS),
        adapter_name=LORA_ADAPTER,
    )


def _encoder_skip_channels(vae) -> list[int]:
    blocks = list(vae.config.block_out_channels)
    return [blocks[max(i - 1, 0)] for i in range(len(blocks))]


def vae_encode(
    vae, x: torch.Tensor, sample: bool, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """[-1,1] image -> (scaled latent, the inputs of the encoder's down blocks). ``sample``:
    draw from the posterior (noise from ``generator``, a CPU one, else the global RNG), else
    its mean."""
    enc, skips = vae.encoder, []
    h = enc.conv_in(x)
    for block in enc.down_blocks:
        skips.append(h)
        h = block(h)
    h = enc.conv_out(enc.conv_act(enc.conv_norm_out(enc.mid_block(h))))
    if vae.quant_conv is not None:
        h = vae.quant_conv(h)
    mean, logvar = h.chunk(2, dim=1)
    z = mean
    if sample:
        noise = (
            torch.randn_like(mean)
            if generator is None
            else torch.randn(mean.shape, generator=generator).to(mean)
        )
        z = mean + torch.exp(0.5 * logvar.clamp(-30, 20)) * noise
    return z * vae.config.scaling_factor, skips


def vae_decode(vae, z: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
    """Scaled latent + encoder skips -> decoder output (no activation)."""
    z = z / vae.config.scaling_factor
    if vae.post_quant_conv is not None:
        z = vae.post_quant_conv(z)
    dec = vae.decoder
    h = dec.mid_block(dec.conv_in(z), None)
    for i, block in enumerate(dec.up_blocks):
        h = block(h + getattr(dec, f"skip_conv_{i + 1}")(skips[::-1][i]), None)
    return dec.conv_out(dec.conv_act(dec.conv_norm_out(h)))
