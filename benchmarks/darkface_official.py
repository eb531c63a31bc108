"""The official DARK FACE metric (``darkface_official``) at DARK FACE's size: 6,000 images of
1080 x 720 with about 20 small faces each (synthetic: faces of 4-60 pixels, mostly small, found
by jittered boxes with some probability, plus false positives and some face-free images).

Times, min of ``--repeats``: the metric on the whole set (``evaluate``, what ``compute`` runs),
the report's 1,000 resampled re-aggregations of it (``Reaggregator``), and mmdet's
``eval_map`` on the same predictions when mmdet is installed; prints both values.

    python benchmarks/darkface_official.py [--images 6000] [--faces 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def synthetic(n_images: int, faces: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n_images):
        n = 0 if rng.random() < 0.05 else int(rng.poisson(faces))
        size = np.minimum(rng.lognormal(np.log(14), 0.6, n), 60).clip(4)[:, None]
        xy = rng.uniform(0, 1, (n, 2)) * ([1080, 720] - size)
        gt = np.round(np.hstack([xy, xy + size - 1]))
        found = rng.random(n) < 0.75
        jitter = rng.normal(0, 0.12, (int(found.sum()), 4)) * np.repeat(size[found], 4, axis=1)
        tp = gt[found] + jitter
        n_fp = int(rng.poisson(0.3 * faces))
        fp_size = rng.uniform(4, 40, (n_fp, 1))
        fp_xy = rng.uniform(0, 1, (n_fp, 2)) * ([1080, 720] - fp_size)
        fp = np.hstack([fp_xy, fp_xy + fp_size])
        scores = np.concatenate([rng.beta(5, 2, len(tp)), rng.beta(2, 5, n_fp)])
        boxes = np.vstack([tp, fp]).astype(np.float32)
        preds.append(
            {
                "boxes": boxes,
                "scores": scores.astype(np.float32),
                "labels": np.zeros(len(boxes), np.int64),
            }
        )
        targets.append({"boxes": gt.astype(np.float32), "labels": np.zeros(n, np.int64)})
    return preds, targets


def best_of(repeats: int, fn):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    from gefu.tasks.darkface_official import METRIC, Reaggregator, evaluate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--faces", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    preds, targets = synthetic(args.images, args.faces)
    n_faces = sum(len(t["boxes"]) for t in targets)
    n_dets = sum(len(p["boxes"]) for p in preds)
    print(f"{args.images} images, {n_faces} faces, {n_dets} detections")
    t, value = best_of(args.repeats, lambda: evaluate(preds, targets)[METRIC])
    print(f"darkface_official (evaluate):          {t:7.2f} s   darkface_AP = {value:.4f}")
    records = [{"pred": p, "target": t} for p, t in zip(preds, targets, strict=True)]
    rng = np.random.default_rng(0)
    draws = rng.integers(0, args.images, size=(args.resamples, args.images))
    weights = np.zeros((args.resamples, args.images))
    np.add.at(weights, (np.repeat(np.arange(args.resamples), args.images), draws.ravel()), 1.0)

    def resampled():
        agg = Reaggregator([str(i) for i in range(args.images)], records)
        return agg.values(weights)[METRIC]

    t, values = best_of(args.repeats, resampled)
    low, high = np.percentile(values, [2.5, 97.5])
    print(
        f"{args.resamples} resamples (Reaggregator):      {t:7.2f} s   95 % [{low:.4f}, {high:.4f}]"
    )
    try:
        from gefu.tasks.detection_metrics import voc_map

        t, voc = best_of(args.repeats, lambda: voc_map(preds, targets, ["face"])["mAP50"])
        print(f"mmdet eval_map (VOC area, same preds):  {t:7.2f} s   mAP50 = {voc:.4f}")
    except ImportError as exc:
        print(f"mmdet eval_map: not measured ({exc})")


if __name__ == "__main__":
    main()
