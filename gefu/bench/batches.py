"""Reading a dataset in batches that do not depend on how it is split.

The dataset's indices are cut into blocks of ``batch_size``; a block is one batch, or several
where its images differ in size (or in having a reference). A batch is therefore fixed by the
dataset and the batch size alone, so a shard made of whole blocks sees the same batches, and the
same per-batch random seeds, as a single pass over the whole set.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator


def iter_batches(ds, batch_size: int, start: int = 0, stop: int | None = None) -> Iterator:
    """Yield (batch of Samples, [(item, problem)]) for indices ``start:stop`` in order;
    ``start`` must be a multiple of ``batch_size``."""
    stop = len(ds) if stop is None else min(stop, len(ds))
    if start % batch_size:
        raise ValueError(f"a shard starts at {start}, not a multiple of batch {batch_size}")
    for block in range(start, stop, batch_size):
        batch, bad = [], []
        for i in range(block, min(block + batch_size, stop)):
            try:
                sample = ds.load(i)
            except Exception as exc:
                bad.append((ds.name_of(i), short_error(exc)))
                continue
            if batch and not _same_kind(sample, batch[0]):
                yield batch, bad
                batch, bad = [], []
            batch.append(sample)
        if batch or bad:
            yield batch, bad


def _same_kind(a, b) -> bool:
    return a.image.shape == b.image.shape and (a.reference is None) == (b.reference is None)


def short_error(exc: BaseException, debug: bool = False) -> str:
    """One line for a failure: type, message and where it was raised; with ``debug``
    (``--debug``) the traceback is printed to stderr too."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    loc = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {msg}{loc}"[:500]


def thumbnail(image, size: int = 160):
    """A centre crop of at most ``size`` pixels on the short side, for the report."""
    import torch.nn.functional as F

    h, w = image.shape[-2:]
    scale = min(1.0, size / min(h, w))
    if scale < 1.0:
        image = F.interpolate(
            image[None], scale_factor=scale, mode="bilinear", antialias=True, align_corners=False
        )[0]
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[:, top : top + side, left : left + side].clamp(0, 1)


def batch_seed(seed_key: str, batch) -> int:
    """The torch seed of one batch: the same wherever and in whatever order it runs."""
    from gefu.core.hashing import digest

    return int(digest([seed_key, [s.name for s in batch]]), 16) % 2**63
