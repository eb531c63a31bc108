"""A dataset split enhanced once by one row and kept on disk for fine-tuning: 8-bit PNGs (what
the publications' offline enhancement wrote, lossless) and a COCO-format ``annotations.json``
that MMDetection's ``CocoDataset`` reads as it is.

The folder is named by a key of everything that determines its content (the row's and the
split's cache keys, the code of this module), so every seed and every later run reuses it. It
is written into a temporary folder and renamed into place when complete: a killed run leaves
no half-written split, and two processes computing the same split at once both end with a
complete one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

DONE = "annotations.json"  # written last: its presence means the folder is complete


def enhanced_split(row, ds, key: str, root: Path, batch_size: int, log=print) -> Path:
    """``ds`` (a detection dataset) through ``row`` (``gefu.bench.rows``) into
    ``root/<key>/``, unless it is there already; returns the folder."""
    import torch

    from gefu.bench.batches import batch_seed, iter_batches
    from gefu.io import write_image

    final = root / key
    if (final / DONE).is_file():
        return final
    tmp = root / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    images, annotations, skipped = [], [], []
    log(f"enhancing the training split ({len(ds)} images) into {final}")
    with torch.inference_mode():
        for batch, bad in iter_batches(ds, batch_size):
            skipped += bad
            if not batch:
                continue
            torch.manual_seed(batch_seed(key, batch))  # enhancers that draw random numbers
            out, _ = row(batch)
            for sample, image in zip(batch, out, strict=True):
                image_id = len(images) + 1
                file_name = f"{image_id:06d}.png"
                write_image(tmp / "images" / file_name, image)
                h, w = image.shape[-2:]
                images.append(
                    {
                        "id": image_id,
                        "file_name": file_name,
                        "width": int(w),
                        "height": int(h),
                        "source": sample.name,
                    }
                )
                annotations += _annotations(sample, image_id, len(annotations))
    if not images:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"the training split has no readable image ({len(skipped)} unreadable)")
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(ds.classes)]
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": categories,
        "unreadable": [list(b) for b in skipped],
    }
    (tmp / DONE).write_text(json.dumps(doc))
    try:
        os.replace(tmp, final)
    except OSError:  # another process finished the same split first
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / DONE).is_file():
            raise
    return final


def _annotations(sample, image_id: int, start: int) -> list[dict]:
    """The sample's boxes as COCO annotations (``ignore`` boxes as ``iscrowd``)."""
    from gefu.tasks.detection import dataset_target

    target = dataset_target(sample)
    boxes, labels = target["boxes"].reshape(-1, 4), target["labels"].reshape(-1)
    ignore = target.get("ignore")
    out = []
    for i, ((x1, y1, x2, y2), label) in enumerate(zip(boxes.tolist(), labels.tolist())):
        w, h = x2 - x1, y2 - y1
        out.append(
            {
                "id": start + len(out) + 1,
                "image_id": image_id,
                "category_id": int(label) + 1,
                "bbox": [x1, y1, w, h],
                "area": w * h,
                "iscrowd": int(bool(ignore[i])) if ignore is not None else 0,
            }
        )
    return out
