"""Per-image cost of every shipped enhancer and of the frozen models of the default GEFU
configs, for planning a full study (docs/scaling.md).

Enhancers: one forward on a batch of ``--batch`` images of ``--size`` (H W), learned ones with
their published architecture and random weights (cost does not depend on the weights; SCUF uses
the published SD-Turbo/CLIP configs, ``base: full-config``). Frozen models: the evaluation's
``process`` on enhanced images whose normal-light predictions are already cached, i.e. one
forward of the frozen model plus its scoring, with random weights where the checkpoint is not
here (``allow_random_weights``). The first batch (warm-up, cuDNN autotuning) is not timed.

    python benchmarks/per_image_costs.py [--device cuda] [--size 400 600] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import time

import torch

ENHANCERS = {
    "identity": {},
    "gamma": {},
    "he": {},
    "clahe": {},
    "msrcr": {},
    "lime": {},
    "zero_dce": {},
    "zero_dce_pp": {},
    "sagc": {},
    "scl_lle": {},
    "retinexnet": {},
    "hvr_ssle": {},
    "semi_llie": {},
    "scuf": {"base": "full-config", "clip": "full-config"},
}
RANDOM = {"allow_random_weights": True}


def random_model(family: str, config: str) -> dict:
    """A nested model spec with random weights (timings only)."""
    return {"model": {"family": family, "config": config, **RANDOM}}


FROZEN = {  # label: (evaluation name, params), as in configs/gefu/*.yaml and the demo
    "efficientnet_lite0": ("classification_consistency", {"arch": "efficientnet_lite0"}),
    "codan_resnet18": ("classification_consistency", {"arch": "gefu_codan_resnet18", **RANDOM}),
    "mtcnn": ("face_consistency", {"model": {"family": "mtcnn"}, "metric": "coco"}),
    "darknet_yolov3_tiny_256": (
        "detection_consistency",
        {"model": {"family": "darknet", "input_size": 256}, "metric": "coco"},
    ),
    "mmdet_yolov3_d53_608": (
        "detection_consistency",
        {**random_model("mmdet", "yolo/yolov3_d53_8xb8-ms-608-273e_coco.py"), "metric": "coco"},
    ),
    "mmdet_faster_rcnn_r50": (
        "detection_consistency",
        {**random_model("mmdet", "faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"), "metric": "coco"},
    ),
    "mmseg_deeplabv3plus_r50": (
        "segmentation_consistency",
        random_model("mmseg", "deeplabv3plus/deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py"),
    ),
    "mmseg_segformer_b0": (
        "segmentation_consistency",
        random_model("mmseg", "segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py"),
    ),
}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def per_image(fn, batch: int, device: str, repeats: int) -> float:
    fn()  # warm-up
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return 1000 * (time.perf_counter() - t0) / (repeats * batch)


def main() -> None:
    import logging

    from gefu.datasets.base import Sample
    from gefu.enhancers import create_enhancer
    from gefu.tasks import create_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, nargs=2, default=(400, 600), metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="names to measure (default: all)")
    args = parser.parse_args()
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # noise from diffusers' import
    dev, (h, w) = args.device, args.size
    torch.manual_seed(0)
    x = (torch.rand(args.batch, 3, h, w) * 0.3).to(dev)
    ref = torch.rand(args.batch, 3, h, w)
    wanted = set(args.only or [*ENHANCERS, *FROZEN])
    name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else "CPU"
    print(f"{name}, {h}x{w} images, batch {args.batch}; ms per image")
    for label, params in ENHANCERS.items():
        if label not in wanted:
            continue
        try:
            model = create_enhancer(label, **params).to(dev).eval()
            with torch.inference_mode():
                ms = per_image(lambda m=model: m(x), args.batch, dev, args.repeats)
            print(f"enhancer {label:<28}{ms:10.1f}")
        except Exception as exc:
            print(f"enhancer {label:<28}    n/a  ({type(exc).__name__}: {str(exc)[:90]})")
    samples = [Sample(f"img{i}", x[i].cpu(), reference=ref[i]) for i in range(args.batch)]
    for label, (evaluation, params) in FROZEN.items():
        if label not in wanted:
            continue
        try:
            task = create_task(evaluation, **params)
            task.setup(dev)
            why = task.unavailable()
            if why:  # nothing would run: no figure rather than a meaningless one
                raise RuntimeError(why)
            with torch.inference_mode():
                task.process(x, samples)  # caches the references' predictions
                ms = per_image(lambda t=task: t.process(x, samples), args.batch, dev, args.repeats)
            print(f"frozen   {label:<28}{ms:10.1f}")
        except Exception as exc:
            print(f"frozen   {label:<28}    n/a  ({type(exc).__name__}: {str(exc)[:90]})")


if __name__ == "__main__":
    main()
