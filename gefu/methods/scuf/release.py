"""Import the authors' released SCUF checkpoint (``model_<step>.pkl``).

Layout, as written by the release's ``src/train.py`` (``torch.save`` of a plain dict; verified
against wangsen99/GEFU):

- ``rank_vae`` (int) and ``vae_lora_target_modules`` (list of str): the VAE LoRA config;
- ``sd_vae_enc`` / ``sd_vae_dec``: state dicts of the wrappers holding ``vae`` (a2b) and
  ``vae_b2a`` (full VAE state dicts: frozen base, ``vae_skip`` LoRA, skip convs);
- ``sd_vae_ref``: the same plus ``vae_ref`` (the reflectance VAE);
- ``image_proj``: the prompt projection (``proj.*``, ``norm.*``);
- ``ca_adapter``: ``ModuleList(unet.attn_processors.values())`` — key ``{i}.to_q_ca.weight``
  etc., ``i`` the position among ALL attention processors (self-attention ones hold nothing).

Mapping to ``SCUF`` names: ``vae.*`` -> ``vae_a2b.*``, ``vae_b2a.*`` and the decoder side of
``vae_ref.*`` kept, ``image_proj.X`` -> ``prompt_proj.X``, ``ca_adapter.{i}.X`` ->
``unet.<i-th processor name>.X``. Only trained tensors are taken; the frozen base comes from
``base``. The file is read with ``torch.load(weights_only=True)``: anything that needs
arbitrary objects is refused with the reason.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from gefu.enhancers.released import Release

if TYPE_CHECKING:
    import torch

REQUIRED = (
    "rank_vae",
    "vae_lora_target_modules",
    "sd_vae_enc",
    "sd_vae_dec",
    "image_proj",
    "ca_adapter",
)
VAE_PREFIXES = {"vae.": "vae_a2b.", "vae_b2a.": "vae_b2a.", "vae_ref.": "vae_ref."}


class ReleasedCheckpointError(ValueError):
    """The file is not a released SCUF checkpoint this importer can read safely."""


def read_released(path) -> dict:
    """The released dict, loaded with ``weights_only=True`` (tensors and containers only)."""
    from gefu.core.checkpoint import load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SCUF checkpoint not found: {path}")
    try:
        sd = load_checkpoint(path)
    except ValueError as exc:  # released SCUF checkpoints hold only tensors and containers
        raise ReleasedCheckpointError(str(exc)) from None
    if not isinstance(sd, dict):
        raise ReleasedCheckpointError(f"{path}: expected a dict, got {type(sd).__name__}")
    missing = [k for k in REQUIRED if k not in sd]
    if missing:
        raise ReleasedCheckpointError(
            f"{path}: not a released SCUF checkpoint: missing {missing} (has {sorted(sd)})"
        )
    return sd


def released_to_state_dict(sd: dict, model) -> dict[str, torch.Tensor]:
    """The released dict -> ``model.trained_state_dict()`` names (strict: every trained key)."""
    import torch

    wanted = set(model.trained_state_dict())
    out: dict[str, torch.Tensor] = {}
    vae_sources = ["sd_vae_enc", "sd_vae_dec"] + (["sd_vae_ref"] if "sd_vae_ref" in sd else [])
    for source in vae_sources:
        for key, value in sd[source].items():
            prefix = next((p for p in VAE_PREFIXES if key.startswith(p)), None)
            name = VAE_PREFIXES[prefix] + key[len(prefix) :] if prefix else None
            if name not in wanted:
                continue  # frozen base weights, vae_ref's encoder
            if name in out and not torch.equal(out[name], value):
                raise ReleasedCheckpointError(f"{source}[{key!r}] disagrees with its copy")
            out[name] = value
    for key, value in sd["image_proj"].items():
        out[f"prompt_proj.{key}"] = value
    processors = list(model.unet.attn_processors)
    for key, value in sd["ca_adapter"].items():
        index, _, param = key.partition(".")
        if not index.isdigit() or int(index) >= len(processors):
            raise ReleasedCheckpointError(
                f"ca_adapter key {key!r}: the UNet has {len(processors)} attention processors"
            )
        out[f"unet.{processors[int(index)]}.{param}"] = value
    absent = sorted(wanted - set(out))
    if absent and all(k.startswith("vae_ref.") for k in absent) and "sd_vae_ref" not in sd:
        warnings.warn(
            "released checkpoint has no sd_vae_ref: the reflectance decoder keeps its "
            "initial weights (inference does not use it)",
            stacklevel=2,
        )
        state = model.trained_state_dict()
        out |= {k: state[k] for k in absent}
    return out


def import_released(cls, path, **overrides):
    """A ``cls`` (``SCUF``; base from ``overrides["base"]``, default SD-Turbo) with the released
    checkpoint's trained weights."""
    from gefu.methods.scuf.components import VAE_LORA_TARGETS

    sd = read_released(path)
    targets = list(sd["vae_lora_target_modules"])
    if set(targets) != set(VAE_LORA_TARGETS):
        raise ReleasedCheckpointError(
            f"{path}: VAE LoRA targets {targets} differ from SCUF's {VAE_LORA_TARGETS}"
        )
    rank = int(sd["rank_vae"])
    if overrides.setdefault("lora_rank", rank) != rank:
        raise ReleasedCheckpointError(
            f"{path}: rank_vae is {rank}, not lora_rank={overrides['lora_rank']}"
        )
    model = cls(**overrides)
    model.load_state_dict(released_to_state_dict(sd, model), strict=True)
    return model.eval()


def to_released_layout(model) -> dict:
    """``model`` in the release's layout (what its ``src/train.py`` saves); for the release's
    own scripts, and to test the importer."""
    import torch

    from gefu.methods.scuf.components import VAE_LORA_TARGETS

    def prefixed(module, prefix):
        return {prefix + k: v.detach().clone() for k, v in module.state_dict().items()}

    vaes = prefixed(model.vae_a2b, "vae.") | prefixed(model.vae_b2a, "vae_b2a.")
    processors = list(model.unet.attn_processors.values())
    adapter = {
        f"{i}.{k}": v.detach().clone()
        for i, p in enumerate(processors)
        if isinstance(p, torch.nn.Module)
        for k, v in p.state_dict().items()
    }
    return {
        "rank_vae": int(model.hparams["lora_rank"]),
        "vae_lora_target_modules": list(VAE_LORA_TARGETS),
        "sd_vae_enc": vaes,
        "sd_vae_dec": dict(vaes),
        "sd_vae_ref": vaes | prefixed(model.vae_ref, "vae_ref."),
        "image_proj": {k: v.detach().clone() for k, v in model.prompt_proj.state_dict().items()},
        "ca_adapter": adapter,
    }


# The GEFU release (wangsen99/GEFU on the Hugging Face Hub, MIT): SCUF's fine-tuned weights and
# the paper's frozen evaluation models. File names from the release's READMEs; the Hub pages
# listing ``Classification/model_best.pt`` and ``Detection/yolov3.pth`` were checked, the other
# two names were not. No hashes are pinned yet (the first download records them); the revision
# is the branch, since no Hub commit of these files was verified.
_HUB = "wangsen99/GEFU"
RELEASES = (
    Release(
        "scuf.official",
        "scuf",
        "test_model.pkl",
        "wangsen99/GEFU",
        None,
        None,
        None,
        "MIT",
        hub=(_HUB, "SCUF/test_model.pkl", "main"),
        urls=(
            "https://huggingface.co/wangsen99/GEFU/tree/main/SCUF",
            "https://pan.baidu.com/s/1NlgfCm2x1iDmrFXJl-7nlw?pwd=bpbe",
        ),
        note="the trained subset; the frozen base is SD-Turbo (params.base); the Hub file "
        "name is the one the README's inference command uses (not verified on the Hub)",
    ),
    Release(
        "gefu_eval.codan_resnet18",
        None,
        "model_best.pt",
        "wangsen99/GEFU",
        None,
        None,
        None,
        "MIT",
        hub=(_HUB, "Classification/model_best.pt", "main"),
        note="GEFU's CODaN night classifier (evaluation `classification`, arch "
        "gefu_codan_resnet18, `checkpoint:`)",
    ),
    Release(
        "gefu_eval.darkface_yolov3",
        None,
        "yolov3.pth",
        "wangsen99/GEFU",
        None,
        None,
        None,
        "MIT",
        hub=(_HUB, "Detection/yolov3.pth", "main"),
        note="GEFU's DARK FACE YOLOv3 (MAET's mmdet 2.x layout; `checkpoint:` of face_detection)",
    ),
    Release(
        "gefu_eval.bdd100k_segmenter",
        None,
        "best_weights.pth.tar",
        "wangsen99/GEFU",
        None,
        None,
        None,
        "MIT",
        hub=(_HUB, "Segmentation/best_weights.pth.tar", "main"),
        note="GEFU's BDD100K-night segmenter (name from gefu_eval/README.md, not verified on "
        "the Hub); the suite has no reader for its layout yet",
    ),
)
