"""``finetune_detection``: the fine-tuned-detector protocol of MAET / IAT and the papers that
copy their tables, beside the frozen one (``detection``).

Per row (enhancer, the un-enhanced input, or the reference), per seed: the dataset's training
split goes through the row once (``gefu.bench.finetune_data``, reused by every seed and run),
an MMDetection 3.x detector is fine-tuned on it from ``checkpoint`` with the ``recipe``
(``gefu.tasks.finetune_recipe``) by MMEngine's ``Runner`` (its training loop, hooks,
checkpointing, schedulers), and the fine-tuned detector scores the row's enhanced test split
like the frozen ``detection`` task: the same per-image records (boxes), so every statistic of
the report works on these cells too. A fine-tune killed mid-way resumes from MMEngine's last
checkpoint (one per epoch) on the next ``gefu run``.

What a cell's fine-tune depends on is in its cache key: the row, the training split (reader,
parameters, files; opened with the dataset entry's parameters updated by ``train``), the
detector config and init checkpoint, the recipe, the seed, this code and the libraries. Its
files live under ``<results>/finetune/``: ``data/<key>/`` (enhanced training split) and
``runs/<key>/`` (MMEngine's work dir: config, logs, last checkpoint, ``done.json``).
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gefu.core.hashing import code_hash, digest, library_versions
from gefu.tasks.detection import Detection
from gefu.tasks.finetune_recipe import COCO_YOLOV3, YOLOV3_CONFIG, Recipe, runner_config

TRAINING_LIBRARIES = ("torch", "mmdet", "mmcv", "mmengine", "numpy", "pillow")


class FinetuneDetection(Detection):
    """Fine-tune ``config`` (an mmdet config, default YOLOv3-D53 608) from ``checkpoint``
    (default: the MMDetection zoo's COCO YOLOv3, the publications' init; a path or URL) on the
    row's enhanced training split with ``recipe`` (``Recipe``'s keys; defaults: MAET's ExDark
    recipe), seeded by ``seed``; score it on the row's enhanced test split with VOC mAP@0.5
    (area, mmdet ``eval_map``: the publications' metric) or ``metric: coco``. ``train``: the
    dataset parameters that select the training split (``{split: train}``; for
    ``coco_detection``, ``{annotations: train.json}``); ``train_limit``: its first N images.
    ``cfg_options``: overrides of the detector config (a tiny model for tests)."""

    unit_per_cell = True  # each fine-tune is one unit of work for the executors

    def __init__(
        self,
        config: str = YOLOV3_CONFIG,
        checkpoint: str | None = COCO_YOLOV3,
        recipe: dict[str, Any] | None = None,
        seed: int = 0,
        train: dict[str, Any] | None = None,
        train_limit: int | None = None,
        metric: str = "voc",
        iou_thr: float = 0.5,
        voc_mode: str = "area",
        cfg_options: dict[str, Any] | None = None,
        allow_random_weights: bool = False,
    ):
        model = {"config": config, "checkpoint": checkpoint, "cfg_options": cfg_options}
        model |= {"family": "mmdet", "allow_random_weights": allow_random_weights}
        super().__init__(model, metric, iou_thr, voc_mode)
        self.recipe = Recipe.model_validate(recipe or {})
        self.seed = int(seed)
        self.train = dict({"split": "train"} if train is None else train)
        self.train_limit = train_limit

    def spec(self) -> dict[str, Any]:
        return {
            **super().spec(),
            "recipe": self.recipe.model_dump(),
            "seed": self.seed,
            "train": self.train,
            "train_limit": self.train_limit,
        }

    def code_dependencies(self) -> tuple[type, ...]:
        return (Recipe,)  # the training split's enhancement: in its key (gefu.bench.grid)

    def train_spec(self, dataset_spec):
        """The dataset entry of the training split beside ``dataset_spec`` (the test split)."""
        params = {**dataset_spec.params, **self.train}
        return dataset_spec.model_copy(update={"params": params, "limit": self.train_limit})

    # -- running --------------------------------------------------------------------------
    def setup(self, device: str) -> None:
        """Nothing to load before a row's fine-tune; the init checkpoint must be at hand."""
        self.device, self.predictor, self.setup_error = device, None, None
        self.setup_error = self.model.unavailable(download=True)

    def prepare_row(self, data: Path, data_key: str, folder: Path) -> None:
        """Fine-tune (or resume, or reuse a finished fine-tune) on ``data``, the training
        split already enhanced by the row (``gefu.bench.finetune_data``, keyed ``data_key``),
        and make the result this evaluation's predictor."""
        from gefu.tasks.mmdet_model import MMDetDetector

        if self.setup_error:
            raise RuntimeError(self.setup_error)
        run_key = digest(
            [
                data_key,
                self.spec(),
                code_hash(type(self), *self.code_dependencies()),
                library_versions(TRAINING_LIBRARIES),
            ]
        )
        work_dir = folder / "runs" / run_key
        checkpoint = finetune(self, data, work_dir)
        self.predictor = MMDetDetector(work_dir / "config.py", checkpoint, self.device or "cpu")
        self._to_dataset = None  # the predictor's classes are bound again

    def runner_config(self, data: Path, work_dir: Path):
        from gefu.tasks import openmmlab

        base = openmmlab.read_config("mmdet", self.model.config, self.model.cfg_options)
        load_from = None if self.model.random_weights else self.model.weights_file()
        return runner_config(
            base,
            self.recipe,
            tuple(self.classes),
            data,
            work_dir,
            self.seed,
            None if load_from is None else str(load_from),
        )


def finetune(task: FinetuneDetection, data: Path, work_dir: Path) -> Path:
    """Run (or resume, or reuse) one fine-tune in ``work_dir``; returns its weights file,
    ``model.pth`` (the state dict and the class names: loadable with ``weights_only``)."""
    done = work_dir / "done.json"
    if done.is_file():
        return work_dir / json.loads(done.read_text())["checkpoint"]
    import torch
    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner, find_latest_checkpoint

    work_dir.mkdir(parents=True, exist_ok=True)
    cfg = task.runner_config(data, work_dir)
    last = find_latest_checkpoint(str(work_dir))
    if last:  # a fine-tune killed after a finished epoch: MMEngine resumes it
        _log(f"resuming the fine-tune in {work_dir} from {Path(last).name}")
        cfg.resume, cfg.load_from = True, last
    else:
        _log(f"fine-tuning in {work_dir} ({task.recipe.epochs} epochs, seed {task.seed})")
    cfg.experiment_name = f"{work_dir.name[:16]}-{Path(last).stem if last else 'start'}"
    cfg.dump(str(work_dir / "config.py"))  # with the test pipeline the predictor uses
    cfg.pop("test_dataloader")  # scored by the suite, not by the Runner's test loop
    runner = Runner.from_cfg(cfg)
    runner.register_hook(EpochSeed(task.seed), priority="VERY_HIGH")
    with _own_checkpoints(resuming=bool(last)):
        runner.train()
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    meta = {"dataset_meta": {"classes": list(task.classes)}, "seed": task.seed}
    torch.save({"state_dict": weights, "meta": meta}, work_dir / "model.pth")
    done.write_text(json.dumps({"checkpoint": "model.pth", "epochs": task.recipe.epochs}))
    for resume_file in work_dir.glob("epoch_*.pth"):  # only needed to resume
        resume_file.unlink()
    return work_dir / "model.pth"


@contextmanager
def _own_checkpoints(resuming: bool):
    """MMEngine's resume checkpoints pickle its message hub (numpy arrays, ``getattr``), which
    ``torch.load``'s ``weights_only`` default refuses. They are files this suite wrote itself
    into the results folder (trusted as its store is), so a resume unpickles them fully."""
    import os

    key = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
    old = os.environ.get(key)
    if resuming:
        os.environ[key] = "1"
    try:
        yield
    finally:
        if resuming and old is None:
            os.environ.pop(key, None)
        elif resuming:
            os.environ[key] = old


def _epoch_seed_hook():
    from mmengine.hooks import Hook

    class _EpochSeed(Hook):
        """Seed python, numpy and torch at the start of every epoch from (seed, epoch): the
        augmentations of an epoch do not depend on whether the run was resumed before it."""

        def __init__(self, seed: int):
            self.seed = seed

        def before_train_epoch(self, runner) -> None:
            import random

            import numpy as np
            import torch

            value = int(digest([self.seed, runner.epoch]), 16) % 2**32
            random.seed(value)
            np.random.seed(value)
            torch.manual_seed(value)

    return _EpochSeed


def EpochSeed(seed: int):  # noqa: N802  (a hook class built lazily: mmengine is optional)
    return _epoch_seed_hook()(seed)


def _log(message: str) -> None:
    print(f"finetune_detection: {message}", file=sys.stderr)
