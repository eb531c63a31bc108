"""The sampling units of a table: which images are independent, and which conditions repeat.

A dataset reader may give each image a *cluster* (the source scene, photo or video sequence:
frames of one sequence, or one photo darkened at several levels, are not independent) and a
*stratum* (a fixed condition the set repeats, e.g. a darkness level). All resampling in the
report resamples clusters (an image without one is its own cluster), within strata: clusters
that share the same set of strata are drawn together, so a design that crosses photos with
darkness levels keeps every level in every resample, and one that nests sequences in
conditions keeps each condition's count. A benchmark config can override the reader per
dataset: ``cluster_by`` / ``stratify_by`` a regular expression on the image name (its first
group, else the whole match), or ``false`` (images as units / no strata).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gefu.bench.report.stats import N_RESAMPLES, SEED


@dataclass(frozen=True)
class Design:
    images: tuple[str, ...]  # in name order
    units: tuple[str, ...]  # per image: its cluster (the image's own name when it has none)
    strata: tuple[str | None, ...]  # per image
    source: str = "reader"  # where the clusters came from: "reader", "config", "images"

    @property
    def unit_names(self) -> list[str]:
        return list(dict.fromkeys(self.units))

    @property
    def n_units(self) -> int:
        return len(set(self.units))

    @property
    def clustered(self) -> bool:
        return self.n_units < len(self.images)

    @property
    def stratum_names(self) -> list[str]:
        return sorted({s for s in self.strata if s is not None})

    def unit_index(self) -> np.ndarray:
        """Per image, the position of its unit in ``unit_names``."""
        pos = {u: i for i, u in enumerate(self.unit_names)}
        return np.array([pos[u] for u in self.units], dtype=np.int64)

    def restrict(self, images: Sequence[str]) -> Design:
        """The design on a subset of its images (kept in name order)."""
        keep = set(images)
        idx = [i for i, name in enumerate(self.images) if name in keep]
        pick = [self.images[i] for i in idx]
        if len(pick) != len(keep):
            missing = sorted(keep - set(self.images))[:3]
            raise ValueError(f"images outside the design: {', '.join(missing)}")
        return Design(
            tuple(pick),
            tuple(self.units[i] for i in idx),
            tuple(self.strata[i] for i in idx),
            self.source,
        )

    def membership(self) -> np.ndarray:
        """``[n_images, n_units]``: 1 where the image belongs to the unit."""
        out = np.zeros((len(self.images), self.n_units))
        out[np.arange(len(self.images)), self.unit_index()] = 1.0
        return out

    def unit_sums(self, values: np.ndarray) -> np.ndarray:
        """``[..., n_images]`` -> ``[..., n_units]`` sums over each unit's images."""
        return np.asarray(values, np.float64) @ self.membership()

    def weights(self, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> np.ndarray:
        """``[n_resamples, n_images]`` bootstrap weights: clusters drawn with replacement within
        their stratum group, each image weighted by how often its cluster was drawn."""
        rng = np.random.default_rng(seed)
        names = self.unit_names
        index = self.unit_index()
        strata_of: dict[str, set[str]] = {}  # one pass over the images, not one per unit
        for stratum, unit in zip(self.strata, self.units, strict=True):
            strata_of.setdefault(unit, set()).add(str(stratum))
        groups: dict[tuple, list[int]] = {}
        for u, name in enumerate(names):
            groups.setdefault(tuple(sorted(strata_of[name])), []).append(u)
        counts = np.zeros((n_resamples, len(names)))
        rows = np.arange(n_resamples)[:, None]
        for members in groups.values():
            drawn = np.asarray(members)[rng.integers(0, len(members), (n_resamples, len(members)))]
            np.add.at(counts, (np.broadcast_to(rows, drawn.shape), drawn), 1.0)
        return counts[:, index]

    def describe(self) -> str:
        n, k = len(self.images), self.n_units
        text = f"{n} image{'s' * (n != 1)}"
        if self.clustered:
            text += f" in {k} independent cluster{'s' * (k != 1)} ({self.source})"
        else:
            text += ", each its own unit"
        strata = self.stratum_names
        if strata:
            text += f"; {len(strata)} strata ({', '.join(strata)})"
        return text


def _by(pattern: str, name: str, key: str) -> str:
    try:
        found = re.search(pattern, name)
    except re.error as exc:
        raise ValueError(f"{key}: {pattern!r} is not a regular expression: {exc}") from None
    if found is None:
        raise ValueError(f"{key}: {pattern!r} does not match the image name {name!r}")
    return found.group(1) if found.groups() else found.group(0)


def design(
    images: Sequence[str],
    groups: Mapping[str, tuple[str | None, str | None]],
    cluster_by: str | bool | None = None,
    stratify_by: str | bool | None = None,
) -> Design:
    """The design of ``images`` from the reader's ``groups`` (image -> (cluster, stratum)),
    overridden by a dataset spec's ``cluster_by`` / ``stratify_by``."""
    names = tuple(sorted(images))
    units, strata, source = [], [], "reader"
    for name in names:
        cluster, stratum = groups.get(name, (None, None))
        if cluster_by is False:
            cluster, source = None, "images"
        elif isinstance(cluster_by, str):
            cluster, source = _by(cluster_by, name, "cluster_by"), "config"
        if stratify_by is False:
            stratum = None
        elif isinstance(stratify_by, str):
            stratum = _by(stratify_by, name, "stratify_by")
        units.append(f"cluster:{cluster}" if cluster is not None else f"image:{name}")
        strata.append(stratum)
    return Design(names, tuple(units), tuple(strata), source)
