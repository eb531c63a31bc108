"""The authors' released weights: one table of facts, a hash check, and the import to a folder.

Each method folder declares its releases (``gefu/methods/<name>/release.py``, listed by its
manifest); ``RELEASES`` gathers them by name. Each ``Release`` says where a file comes from
(repository, path, full commit; or a Hugging Face Hub file: ``hub``), which
``gefu.enhancers.weights`` downloads into its cache, its SHA-256 where known, its licence,
and the input contract the authors' test script uses (value range, input gain, size
multiple), which the suite's enhancer applies by default. Loading itself goes through
``Enhancer.from_pretrained``, whose ``convert_state_dict`` recognises each layout from its keys
(files are never unpickled: ``torch.load(weights_only=True)`` or safetensors).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GITHUB = "https://github.com"  # the origin of repository files (tests point it at a local server)


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
    urls: tuple[str, ...] = ()  # pages for humans other than the repository file
    note: str = ""
    hub: tuple[str, str, str] | None = None  # Hugging Face Hub (repo_id, filename, revision)

    @property
    def url(self) -> str:
        """The page for humans."""
        if self.hub:
            repo_id, filename, revision = self.hub
            return f"https://huggingface.co/{repo_id}/blob/{revision}/{filename}"
        if self.path and self.commit:
            return f"https://github.com/{self.repo}/blob/{self.commit}/{self.path}"
        return self.urls[0] if self.urls else f"https://github.com/{self.repo}"

    @property
    def download_url(self) -> str | None:
        """The file itself: GitHub's ``/raw/<commit>/`` route (it redirects to
        raw.githubusercontent.com, or to media.githubusercontent.com for a Git-LFS file), or
        the Hub's ``/resolve/<revision>/``; None where the file is only available by hand."""
        if self.hub:
            repo_id, filename, revision = self.hub
            return f"https://huggingface.co/{repo_id}/resolve/{revision}/{filename}"
        if self.path and self.commit:
            return f"{GITHUB}/{self.repo}/raw/{self.commit}/{self.path}"
        return None

    @property
    def noncommercial(self) -> bool:
        text = self.licence.lower()
        return any(w in text for w in ("-nc", "non-commercial", "noncommercial", "academic"))


class _ReleaseTable(Mapping[str, Release]):
    """Every method folder's ``RELEASES`` (``gefu.methods``), read on first use, by name."""

    def __init__(self) -> None:
        self._rows: dict[str, Release] | None = None

    def _table(self) -> dict[str, Release]:
        if self._rows is None:
            from gefu.core.manifests import manifests

            rows: dict[str, Release] = {}
            for manifest in manifests():
                for release in manifest.load_releases():
                    if release.name in rows:
                        raise ValueError(f"release {release.name!r} is declared twice")
                    rows[release.name] = release
            self._rows = rows
        return self._rows

    def __getitem__(self, name: str) -> Release:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


RELEASES: Mapping[str, Release] = _ReleaseTable()


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
