"""Time one fine-tuning iteration of the ExDark recipe
(``configs/gefu/exdark_finetune_yolov3.yaml``): YOLOv3-Darknet-53, 12 classes, batch 8 at
608 x 608 (the top of the 320-608 multi-scale range, so the slowest iteration), SGD with the
recipe's settings and grad-clip, through the model's own ``train_step`` (data preprocessor,
forward, loss, backward, clip, step). Seconds per iteration and, on CUDA, peak memory.

    python benchmarks/finetune_iteration.py [--device cpu|cuda] [--steps 3] [--size 608]

Random weights and random boxes (the cost does not depend on them); data loading and
augmentation are not timed (MMEngine's data loader runs them in ``num_workers`` processes).
"""

from __future__ import annotations

import argparse
import json
import time


def batch(n: int, size: int, classes: int):
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8))
        xy = torch.rand(4, 2, generator=g) * size * 0.6
        wh = torch.rand(4, 2, generator=g) * size * 0.3 + 16
        sample = DetDataSample(
            metainfo={
                "img_shape": (size, size),
                "ori_shape": (size, size),
                "pad_shape": (size, size),
                "scale_factor": (1.0, 1.0),
                "batch_input_shape": (size, size),
            }
        )
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(0, classes, (4,), generator=g),
        )
        samples.append(sample)
    return {"inputs": inputs, "data_samples": samples}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=3, help="timed iterations (after one warm-up)")
    p.add_argument("--size", type=int, default=608)
    p.add_argument("--batch", type=int, default=8)
    args = p.parse_args()

    import torch
    from mmdet.registry import MODELS
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from gefu.tasks import openmmlab
    from gefu.tasks.finetune_recipe import YOLOV3_CONFIG, Recipe, runner_config

    init_default_scope("mmdet")
    classes = tuple(f"class{i}" for i in range(12))
    base = openmmlab.read_config("mmdet", YOLOV3_CONFIG)
    cfg = runner_config(base, Recipe(), classes, "data", "work", 0, None)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(args.device).train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    data = batch(args.batch, args.size, len(classes))
    times = []
    for i in range(args.steps + 1):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        losses = model.train_step(data, optim)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        if i:  # the first iteration warms up
            times.append(time.perf_counter() - t0)
    out = {
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "batch": args.batch,
        "size": args.size,
        "s_per_iteration": sum(times) / len(times),
        "min_s": min(times),
        "loss": float(losses["loss"].detach()),
    }
    if args.device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name()
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
