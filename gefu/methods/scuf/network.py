"""SCUF (Wang et al., ICCV 2025): a one-step SD-Turbo translator fine-tuned without pairs.

Frozen: the SD-Turbo UNet (one step at the last timestep), its CLIP text encoder and a CLIP
ViT-B/32 image encoder. Trained: LoRA (rank 4) of three VAEs — ``vae_a2b`` (low -> normal),
``vae_b2a`` (normal -> low), ``vae_ref`` (its decoder, sigmoid output: the Retinex
reflectance) — whose decoders receive the encoder's activations through 1x1 skip convs; the
image-prompt projection; the cycle-attention processors. The checkpoint holds only these
(``trained_state_dict``); the frozen base is referenced by its source in ``config.json``.
"""

from __future__ import annotations

import contextlib
import copy

import torch
import torch.nn.functional as F

from gefu.enhancers.base import Enhancer
from gefu.methods.scuf import components as C
from gefu.methods.scuf.attention import install_cycle_attention, set_cycle_attention
from gefu.methods.scuf.counts import count_model
from gefu.methods.scuf.prompt import PromptProjection, clip_image_embedding, value_map
from gefu.methods.scuf.release import import_released

BRIGHT_PROMPT = (
    "natural light, bright lighting, soft illumination, high light, evenly lit, "
    "clear visibility, daylight, bright atmosphere, well-lit photo."
)
# The release reads the b2a prompt from its data folder's fixed_prompt_a.txt (published with
# its unpaired training data); this is that file's text.
DARK_PROMPT = (
    "low light, dim lighting, low illumination, underexposed, ambient shadows, "
    "subdued light, silhouetted, dark atmosphere photo."
)
TRAINED_MARKERS = ("lora_", "skip_conv_", ".processor.", "prompt_proj.")


class SCUF(Enhancer):
    """Low-light image ``[B,3,H,W]`` in [0,1] -> enhanced, one a2b step with the bright prompt.

    ``sample_latents`` (default ``True``, as released): the VAE encoder's latent is a draw from
    its posterior (global torch RNG) at inference too, as the release's ``latent_dist.sample()``;
    ``False`` uses the posterior mean (deterministic output). Training always samples."""

    trainable = True
    needs_weights = True

    @classmethod
    def parameter_report(cls) -> dict[str, dict[str, dict[str, int]]]:
        """Trainable/frozen counts per component, tiny (tests) and full size (SD-Turbo)."""
        return {"tiny": parameter_counts("tiny"), "full size": parameter_counts("full")}

    def __init__(
        self,
        base: str = C.SD_TURBO,
        clip: str = C.CLIP_B32,
        local_files_only: bool = True,
        lora_rank: int = 4,
        prompt_tokens: int = 4,
        prompt_a2b: str = BRIGHT_PROMPT,
        prompt_b2a: str = DARK_PROMPT,
        processor_adds_input: bool = True,
        fit: str = "resize",
        seed: int = 0,
        gradient_checkpointing: bool = False,
        sample_latents: bool = True,
    ):
        super().__init__()
        if fit not in ("resize", "pad"):
            raise ValueError(f"fit must be 'resize' (as released) or 'pad', got {fit!r}")
        self.hparams = dict(
            base=base,
            clip=clip,
            local_files_only=local_files_only,
            lora_rank=lora_rank,
            prompt_tokens=prompt_tokens,
            prompt_a2b=prompt_a2b,
            prompt_b2a=prompt_b2a,
            processor_adds_input=processor_adds_input,
            fit=fit,
            seed=seed,
            gradient_checkpointing=gradient_checkpointing,
            sample_latents=sample_latents,
        )
        unet, vae, text, self.tokenizer, sched = C.load_base(base, local_files_only, seed)
        self.unet, self.text_encoder = unet, text
        self.clip_vision = C.load_clip_vision(clip, local_files_only, seed)
        install_cycle_attention(unet, prompt_tokens, processor_adds_input)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 2)
            C.add_skips_and_lora(vae, lora_rank)
            self.prompt_proj = PromptProjection(
                self.clip_vision.config.projection_dim,
                unet.config.cross_attention_dim,
                prompt_tokens,
            )
        self.vae_a2b, self.vae_b2a, self.vae_ref = vae, copy.deepcopy(vae), copy.deepcopy(vae)
        self.vae_ref.encoder = None  # only its decoder is used
        self.alpha, self.prediction_type = C.one_step_alpha(sched)
        self.multiple = 2 ** (len(vae.config.block_out_channels) - 1)
        self.timestep = (sched.get("num_train_timesteps") or 1000) - 1
        self._text_cache: dict[str, torch.Tensor] = {}
        if gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()

    # -- pieces ---------------------------------------------------------------------------
    @torch.no_grad()
    def text_embedding(self, texts: list[str]) -> torch.Tensor:
        """Frozen text-encoder hidden states ``[B, L, width]`` (single prompts are cached)."""
        device = self.text_encoder.device
        if len(texts) == 1 and texts[0] in self._text_cache:
            return self._text_cache[texts[0]].to(device)
        out = self.text_encoder(self.tokenizer(list(texts)).to(device))[0]
        if len(texts) == 1 and len(self._text_cache) < 4096:
            self._text_cache[texts[0]] = out
        return out

    def image_prompt(self, image01: torch.Tensor, reverse: bool) -> torch.Tensor:
        return clip_image_embedding(self.clip_vision, value_map(image01, reverse))

    def vae(self, direction: str):
        return {"a2b": self.vae_a2b, "b2a": self.vae_b2a}[direction]

    def one_step(self, z: torch.Tensor, text: torch.Tensor, prompt_emb=None) -> torch.Tensor:
        """UNet at t=999 and the scheduler's step to x0 (with the image prompt when given;
        without it the adapter is off: the plain frozen UNet)."""
        t = torch.full((z.shape[0],), self.timestep, device=z.device, dtype=torch.long)
        if prompt_emb is None:
            with self.plain_unet():
                pred = self.unet(z, t, encoder_hidden_states=text).sample
        else:
            tokens = torch.cat([text, self.prompt_proj(prompt_emb).to(text.dtype)], 1)
            pred = self.unet(z, t, encoder_hidden_states=tokens).sample
        a = self.alpha
        if self.prediction_type == "v_prediction":
            return a**0.5 * z - (1 - a) ** 0.5 * pred
        return (z - (1 - a) ** 0.5 * pred) / a**0.5

    @contextlib.contextmanager
    def plain_unet(self):
        set_cycle_attention(self.unet, False)
        try:
            yield
        finally:
            set_cycle_attention(self.unet, True)

    def translate(
        self,
        x: torch.Tensor,
        direction: str,
        text: torch.Tensor,
        prompt_emb: torch.Tensor,
        reflectance: bool = False,
    ):
        """[-1,1] image -> ([-1,1] translation, output latent[, reflectance in (0,1)])."""
        vae = self.vae(direction)
        z, skips = vae_encode_ckpt(self, vae, x)
        z_out = self.one_step(z, text.expand(len(x), -1, -1), prompt_emb)
        out = C.vae_decode(vae, z_out, skips).clamp(-1, 1)
        if not reflectance:
            return out, z_out
        return out, z_out, torch.sigmoid(C.vae_decode(self.vae_ref, z_out, skips))

    def teacher_latent(self, x: torch.Tensor, direction: str, text: torch.Tensor):
        """The frozen UNet's one-step latent for the caption (gradients reach the encoder,
        as released)."""
        z, _ = vae_encode_ckpt(self, self.vae(direction), x)
        return self.one_step(z, text)

    # -- inference ------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        size = (-(-h // m) * m, -(-w // m) * m)
        if self.hparams["fit"] == "pad" and size != (h, w):
            x_in = F.pad(x, (0, size[1] - w, 0, size[0] - h), mode="replicate")
        elif size != (h, w):
            x_in = F.interpolate(x, size, mode="bicubic", align_corners=False).clamp(0, 1)
        else:
            x_in = x
        text = self.text_embedding([self.hparams["prompt_a2b"]])
        emb = self.image_prompt(x_in, reverse=True)
        out, _ = self.translate(x_in * 2 - 1, "a2b", text, emb)
        out = (out.float() + 1) / 2
        if size != (h, w):
            if self.hparams["fit"] == "pad":
                out = out[..., :h, :w]
            else:
                out = F.interpolate(out, (h, w), mode="bicubic", align_corners=False)
        return out.clamp(0, 1)

    # -- checkpoints: only what training changes --------------------------------------------
    def trained_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if any(m in k for m in TRAINED_MARKERS)}

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def save_pretrained(self, path):
        import json
        from pathlib import Path

        from safetensors.torch import save_file

        from gefu.enhancers.base import CONFIG_NAME, WEIGHTS_NAME

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = {
            "enhancer": self.registry_name,
            "params": self.hparams,
            "weights": "trained parameters only; the frozen base loads from params.base "
            "and params.clip",
        }
        (path / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True))
        state = {k: v.detach().contiguous().cpu() for k, v in self.trained_state_dict().items()}
        save_file(state, str(path / WEIGHTS_NAME))
        return path

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Loads the trained subset; every trained key must be present (when ``strict``)."""
        expected = set(self.trained_state_dict())
        unexpected = [k for k in state_dict if k not in expected]
        missing = [k for k in expected if k not in state_dict]
        if strict and (unexpected or missing):
            raise RuntimeError(
                f"SCUF checkpoint mismatch: missing {sorted(missing)[:5]} "
                f"({len(missing)}), unexpected {sorted(unexpected)[:5]} "
                f"({len(unexpected)})"
            )
        return super().load_state_dict(state_dict, strict=False, assign=assign)

    @classmethod
    def from_pretrained(cls, path, **overrides):
        path = cls.weights_path(path)  # a release name: its cached file
        if path.suffix == ".pkl":
            from gefu.enhancers.released import check_release

            check_release(cls.registry_name, path)
            return import_released(cls, path, **overrides)
        return super().from_pretrained(path, **overrides)


def vae_encode_ckpt(model: SCUF, vae, x: torch.Tensor):
    sample = model.training or model.hparams.get("sample_latents", True)
    if model.hparams["gradient_checkpointing"] and torch.is_grad_enabled():
        from torch.utils.checkpoint import checkpoint

        return checkpoint(C.vae_encode, vae, x, sample, use_reentrant=False)
    return C.vae_encode(vae, x, sample)


def parameter_counts(size: str = "full") -> dict[str, dict[str, int]]:
    """Counts for ``size="tiny"`` (the test configuration) or ``"full"`` (the published
    SD-Turbo / CLIP ViT-B/32 architectures, built on the meta device: no memory, no weights).
    ``gefu list --details scuf`` can print ``parameter_counts("tiny")`` and ``("full")``."""
    if size not in ("tiny", "full"):
        raise ValueError(f"size must be 'tiny' or 'full', got {size!r}")
    source = "tiny" if size == "tiny" else "full-config"
    if size == "tiny":
        return count_model(SCUF(base=source, clip=source))
    with torch.device("meta"):
        return count_model(SCUF(base=source, clip=source))
