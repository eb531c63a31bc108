"""The authors' released weights: one table of facts, a hash check, and the import to a folder.

Each ``Release`` says where a file comes from (repository, path, commit), its SHA-256 where
known, its licence, and the input contract the authors' test script uses (value range, input
gain, size multiple), which the suite's enhancer applies by default. Loading itself goes
through ``Enhancer.from_pretrained``, whose ``convert_state_dict`` recognises each layout from
its keys (files are never unpickled: ``torch.load(weights_only=True)`` or safetensors).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Release:
    name: str  # "<enhancer>.<tag>"
    enhancer: str | None  # registry name; None for a component that is not an enhancer
    file: str  # the file name as released
    repo: str  # GitHub owner/name of the official code
    path: str | None  # the file's path in ``repo`` (None: hosted elsewhere, or unreleased)
    commit: str | None
    sha256: str | None
    licence: str
    input_range: str = "RGB in [0, 1]"
    gain: float = 1.0  # the test script multiplies the input by this before the network
    size_multiple: int = 1  # the test script brings the input to a multiple of this (note)
    params: dict[str, Any] = field(default_factory=dict)  # enhancer params that match the release
    urls: tuple[str, ...] = ()  # download pages other than the repository file
    note: str = ""

    @property
    def url(self) -> str:
        if self.path and self.commit:
            return f"https://github.com/{self.repo}/blob/{self.commit}/{self.path}"
        return self.urls[0] if self.urls else f"https://github.com/{self.repo}"


RELEASES: dict[str, Release] = {
    r.name: r
    for r in (
        Release(
            "zero_dce.official", "zero_dce", "Epoch99.pth", "Li-Chongyi/Zero-DCE",
            "Zero-DCE_code/snapshots/Epoch99.pth", "e0f4adc54d0f",
            "a4395acb874f320375d9704997cef874eaaaaa26a1777ceb29a92b70f74c3612",
            "CC BY-NC 4.0 (academic research only)",
        ),
        Release(
            "zero_dce_pp.official", "zero_dce_pp", "Epoch99.pth", "Li-Chongyi/Zero-DCE_extension",
            "Zero-DCE++/snapshots_Zero_DCE++/Epoch99.pth", "09f202b690f8",
            "ca8855b90df9a80fa4195a831f33d3476b1964f787eb70602797c773067f3b84",
            "CC BY-NC 4.0", size_multiple=12, params={"scale_factor": 12},
            note="cropped at the top left; the curve map is computed at 1/12 size",
        ),
        Release(
            "scl_lle.official", "scl_lle", "SCL-LLE.pth", "LingLIx/SCL-LLE",
            "checkpoints/SCL-LLE.pth", "408d89a500a8",
            "fc5aa74a6674bb747b325e5a06efbfea2973c10cc93cf25cd2b8f33a038e821f", "none stated",
        ),
        Release(
            "sagc.base", "sagc", "base.pth",
            "georgepan900530/Semantics-Aware-Gamma-Correction-for-Unsupervised-Low-Light-Image-Enhancement",
            "weight/base.pth", "b1448d0e67bd",
            "44832bf2bae4e81b5fb9079d993a8f07db9f5455e66197c02fecb8fa90eeb58b", "none stated",
            gain=1.5, params={"alpha": 1.5}, note="the input times 1.5 is not clipped",
        ),
        Release(
            "retinexnet.decom", None, "decomp.pth", "wangsen99/GEFU", "retinexnet/decomp.pth",
            "5d28e53c0e3e", "c6901c9424100bc24b682c278f8c8318c661c649c3aa36f828a5d6582ba166b9",
            "MIT", note="RetinexNet's DecomNet only (SCUF's reflectance teacher): "
            "gefu.methods.retinexnet.network.load_decomnet, or SCUF training's teacher",
        ),
        Release(
            "scuf.official", "scuf", "test_model.pkl", "wangsen99/GEFU", None, None, None, "MIT",
            urls=("https://pan.baidu.com/s/1NlgfCm2x1iDmrFXJl-7nlw?pwd=bpbe",),
            note="the trained subset; the frozen base is SD-Turbo (params.base)",
        ),
        Release(
            "hvr_ssle.official", "hvr_ssle", "HVR.safetensors", "dwchoo/HVR-SSLE",
            "checkpoint/HVR.safetensors", "00dac33931b3", None, "none stated",
            size_multiple=8, note="Git LFS; keys carry `_orig_mod.`; the network sees [-1, 1] "
            "(the enhancer maps); padded to a multiple of 8 inside",
        ),
        Release(
            "semi_llie.training", "semi_llie", "model_e<N>.pth", "guanguanboy/Semi-LLIE", None,
            None, None, "none stated", size_multiple=16, params={"fit": "resize", "multiple": 16},
            note="no released weights: the "
            "official trainer's checkpoints (state_dict of MambaLowlightguided under "
            "DataParallel) load; the test scripts resize to the next multiple of 16 and back",
        ),
    )
}  # fmt: skip


def releases_for(enhancer: str | None) -> list[Release]:
    return [r for r in RELEASES.values() if r.enhancer == enhancer]


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_release(enhancer: str | None, path: str | Path) -> Release | None:
    """The release of ``enhancer`` that ``path`` is named after, if any, checked with
    ``check_file``."""
    path = Path(path)
    release = next((r for r in releases_for(enhancer) if r.file == path.name), None)
    return check_file(release, path) if release else None


def check_file(release: Release, path: str | Path) -> Release:
    """Warns when the SHA-256 of ``path`` is not the release's (the file is still used)."""
    if release.sha256 and sha256_of(path) != release.sha256:
        warnings.warn(
            f"{path}: SHA-256 differs from the released {release.name} file "
            f"(expected {release.sha256}); loading it anyway",
            stacklevel=3,
        )
    return release


def import_weights(enhancer: str, file: str | Path, out_dir: str | Path, **params: Any) -> Path:
    """Load an author's file through the suite and save it as a checkpoint folder
    (``config.json`` + ``model.safetensors``), recording where it came from."""
    from gefu.enhancers import ENHANCERS, create_enhancer

    ENHANCERS.check(enhancer)
    file = Path(file)
    model = create_enhancer(enhancer, weights=str(file), **params)
    out = Path(model.save_pretrained(out_dir))
    release = next((r for r in releases_for(enhancer) if r.file == file.name), None)
    config = json.loads((out / "config.json").read_text())
    config["imported_from"] = {
        "file": file.name,
        "sha256": sha256_of(file),
        "release": release.name if release else None,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    return out
