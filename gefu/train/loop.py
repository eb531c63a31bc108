"""The one training loop, on Hugging Face ``accelerate``: one CPU, one GPU or DDP over several
(``accelerate launch -m gefu.cli.main train ...``) from the same code, mixed precision per
config. A method (``gefu.train.method``) supplies its networks, optimizers, datasets and step.

Decisions:
- Networks are not wrapped in DDP: after ``backward`` the loop averages each group's
  gradients over processes itself (``step_optimizer``), so a method may call any submodule or
  helper of its networks (``model.curves(x)``) and still train correctly on many GPUs.
- Steps count from 1 in logs and checkpoint names (``step_<N>`` = N steps done).
- The recipe (``TrainMethod.recipe``: resolved hyperparameters, data section, the
  paper-versus-release switches, plus the run's steps, batch and processes) is written to
  ``<output>/recipe.json`` and into the ``training`` key of every saved ``config.json``.
- Exact resume on one process: the data stream is a pure function of (seed, step) (see
  ``gefu.train.data``); checkpoints hold every module, optimizer, scheduler, the grad scaler
  and the global RNG states, loaded back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gefu.core.errors import ConfigError
from gefu.train.config import TrainConfig, build_method
from gefu.train.data import StepBatches
from gefu.train.logging import TrainLogger

STATE_NAME = "training_state.pt"


@dataclass
class TrainResult:
    output: Path
    steps: int  # steps done in total
    model_dir: Path
    steps_per_second: float  # over the steps this call ran
    last: dict[str, float] = field(default_factory=dict)  # the last step's logged values


class _Context:
    """The ``StepContext`` given to ``train_step``."""

    def __init__(self, accelerator, optimizers, grad_clip, aux):
        self.accelerator, self.optimizers, self.grad_clip = accelerator, optimizers, grad_clip
        self.device, self.step, self._aux = accelerator.device, 0, aux

    def backward(self, loss, optimizer: str) -> None:
        if optimizer not in self.optimizers:
            raise KeyError(f"no optimizer group {optimizer!r}; groups: {list(self.optimizers)}")
        self.accelerator.backward(loss)

    def step_optimizer(self, optimizer: str) -> None:
        opt, scheduler = self.optimizers[optimizer]
        params = [p for group in opt.param_groups for p in group["params"]]
        if self.accelerator.num_processes > 1:
            for p in params:
                if p.grad is not None:
                    torch.distributed.all_reduce(p.grad)
                    p.grad /= self.accelerator.num_processes
        if self.grad_clip is not None:
            self.accelerator.clip_grad_norm_(params, self.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if scheduler is not None and not getattr(opt, "step_was_skipped", False):
            scheduler.step()

    def aux(self, name: str):
        if name not in self._aux:
            raise KeyError(f"aux network {name!r} is not declared in the method's aux_networks")
        return self._aux[name]


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    output: str | Path | None = None,
    steps: int | None = None,
    quiet: bool = False,
) -> TrainResult:
    """Train ``config.method``; ``output``/``steps`` override the config's."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    out = Path(output) if output is not None else config.output_dir
    total = steps if steps is not None else config.steps
    ckpt_root = out / "checkpoints"
    if not resume and latest_checkpoint(out) is not None:
        raise ConfigError(f"{out} already holds checkpoints: use --resume, or another --output")
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=config.device == "cpu")
    say = (lambda *a: None) if quiet or not accelerator.is_main_process else print
    try:
        set_seed(config.seed)
        method, datasets = build_method(config)
        modules = method.modules()
        if "model" not in modules:
            raise TypeError(f"{type(method).__name__}.modules() must include 'model'")
        for m in modules.values():
            m.to(accelerator.device)
        if (backend := compile_backend(method, config)) is not None:
            method.compile_modules(modules, backend)
        optimizers = method.optimizers(modules)
        recipe = run_recipe(method, config, total, accelerator.num_processes)
        if accelerator.is_main_process:
            out.mkdir(parents=True, exist_ok=True)
            (out / "recipe.json").write_text(json.dumps(recipe, indent=2, sort_keys=True))
            if recipe["switches"]:
                say(
                    "paper-versus-release switches: "
                    + ", ".join(
                        f"{n}={v['value']} (release: {v['release']})"
                        for n, v in recipe["switches"].items()
                    )
                )
        prepared = {g: (accelerator.prepare(o), s) for g, (o, s) in optimizers.items()}
        from gefu.train.aux import build_aux

        aux = {
            n: build_aux(n, config.aux.get(n), config.allow_random_aux, accelerator.device)
            for n in method.aux_networks
        }
        start = 0
        if resume and (ckpt := latest_checkpoint(out)) is not None:
            start = load_checkpoint(ckpt, modules, prepared, accelerator)
            say(f"resumed from {ckpt} (step {start})")
        elif resume:
            say(f"no checkpoint in {ckpt_root}: starting from step 0")
        ctx = _Context(accelerator, prepared, config.grad_clip, aux)
        iterators = {
            name: iter(_loader(ds, config, name, start, total, accelerator))
            for name, ds in datasets.items()
        }
        logger = TrainLogger(out, start) if accelerator.is_main_process else None
        validator = _Validator(config, accelerator.device) if config.validation else None
        values: dict[str, float] = {}
        t0, done = time.perf_counter(), start
        for step in range(start, total):
            batch = {name: _to(next(it), accelerator.device) for name, it in iterators.items()}
            ctx.step = step
            for m in modules.values():
                m.train()
            with accelerator.autocast():
                values = {k: float(v) for k, v in method.train_step(batch, ctx).items()}
            done = step + 1
            if not all(np.isfinite(v) for v in values.values()):
                raise FloatingPointError(f"step {done}: non-finite loss {values}")
            last = done == total
            if logger and (done % config.log_every == 0 or last):
                logger.log(done, "train", values)
                rate = (done - start) / (time.perf_counter() - t0)
                say(f"step {done}/{total} " + _fmt(values) + f" ({rate:.2f} steps/s)")
            if validator and logger and (done % config.validation.every == 0 or last):
                scores = validator(modules["model"])
                logger.log(done, "val", scores)
                say(f"validation at step {done}: " + _fmt(scores))
            if done % config.checkpoint_every == 0 or last:
                if accelerator.is_main_process:
                    save_checkpoint(out, done, modules, prepared, accelerator, config, recipe)
                accelerator.wait_for_everyone()
        elapsed = time.perf_counter() - t0
        model_dir = out / "model"
        if accelerator.is_main_process:
            modules["model"].save_pretrained(model_dir)
            stamp_recipe(model_dir, recipe)
            say(f"model saved to {model_dir} (load with from_pretrained or `weights:`)")
        if logger:
            logger.close()
        rate = (done - start) / elapsed if done > start and elapsed > 0 else 0.0
        return TrainResult(out, done, model_dir, rate, values)
    finally:
        if accelerator.num_processes == 1:  # let the next call choose other settings
            from accelerate.state import AcceleratorState

            AcceleratorState._reset_state(reset_partial_state=True)


def _loader(ds, config: TrainConfig, name: str, start: int, total: int, accelerator):
    sampler = StepBatches(
        len(ds),
        config.batch_size,
        config.seed,
        name,
        start,
        total,
        accelerator.process_index,
        accelerator.num_processes,
    )
    return torch.utils.data.DataLoader(
        ds,
        batch_sampler=sampler,
        num_workers=config.num_workers,
        generator=torch.Generator(),  # never draw from the global RNG (exact resume)
        pin_memory=accelerator.device.type == "cuda",
    )


def _to(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_to(v, device) for v in batch)
    return batch


def _fmt(values: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in values.items())


# -- validation ----------------------------------------------------------------------------
class _Validator:
    """Enhance the validation set's dark images; score with the suite's IQA metrics; the
    un-enhanced input's scores are logged beside them as ``<metric>_input``."""

    def __init__(self, config: TrainConfig, device):
        from gefu.datasets import open_dataset
        from gefu.metrics import create_metric

        spec, self.device = config.validation.dataset, device
        self.dataset = open_dataset(spec)
        self.count = len(self.dataset)
        if config.validation.limit is not None:
            self.count = min(self.count, config.validation.limit)
        self.metrics = {}
        for name in config.validation.metrics:
            metric = create_metric(name)
            reason = metric.unavailable()
            if reason:
                print(f"validation: skipping {name}: {reason}")
                continue
            metric.setup(str(device))
            self.metrics[name] = metric
        self._input_scores: dict[str, float] | None = None

    def _score(self, images, references) -> dict[str, list[float]]:
        return {
            n: [float(v) for v in (m(images, references) if m.full_reference else m(images))]
            for n, m in self.metrics.items()
        }

    @torch.inference_mode()
    def __call__(self, model) -> dict[str, float]:
        was_training = model.training
        model.eval()
        scores = {n: [] for n in self.metrics}
        inputs = {n: [] for n in self.metrics}
        for i in range(self.count):
            sample = self.dataset.load(i)
            x = sample.image[None].to(self.device)
            ref = sample.reference[None].to(self.device)
            for n, v in self._score(model(x).float().clamp(0, 1), ref).items():
                scores[n] += v
            if self._input_scores is None:
                for n, v in self._score(x, ref).items():
                    inputs[n] += v
        model.train(was_training)
        if self._input_scores is None:
            self._input_scores = {f"{n}_input": float(np.mean(v)) for n, v in inputs.items()}
        return {**{n: float(np.mean(v)) for n, v in scores.items()}, **self._input_scores}


# -- checkpoints ---------------------------------------------------------------------------
def latest_checkpoint(output: str | Path) -> Path | None:
    """The folder named by ``checkpoints/latest``, or None."""
    pointer = Path(output) / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    return folder if (folder / STATE_NAME).is_file() else None


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": np_state[2],
            "has_gauss": np_state[3],
            "gauss": np_state[4],
        },
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["gauss"]))


def compile_backend(method, config: TrainConfig) -> str | None:
    """The ``torch.compile`` backend of the run (``compile:``; unset: as released), or None."""
    wanted = method.released_compile if config.compile is None else config.compile
    if wanted is True:
        return "inductor"
    return wanted or None


def run_recipe(method, config: TrainConfig, steps: int, processes: int) -> dict:
    """``method.recipe()`` plus what the run adds: steps, batch (per process and global),
    processes, seed, precision, clipping and the auxiliary networks."""
    return {
        **method.recipe(),
        "steps": steps,
        "batch_size": config.batch_size,
        "num_processes": processes,
        "global_batch": config.batch_size * processes,
        "seed": config.seed,
        "mixed_precision": config.mixed_precision,
        "grad_clip": config.grad_clip,
        "compile": {
            "value": compile_backend(method, config),
            "release": "inductor" if method.released_compile else None,
        },
        "aux": config.aux,
        "allow_random_aux": config.allow_random_aux,
    }


def stamp_recipe(model_dir: Path, recipe: dict | None) -> None:
    """Add ``recipe`` to the ``training`` key of ``model_dir/config.json``."""
    from gefu.enhancers.base import CONFIG_NAME

    if recipe is None:
        return
    file = Path(model_dir) / CONFIG_NAME
    saved = json.loads(file.read_text())
    saved["training"] = recipe
    file.write_text(json.dumps(saved, indent=2, sort_keys=True))


def save_checkpoint(
    output: Path, step: int, modules, optimizers, accelerator, config, recipe: dict | None = None
) -> Path:
    """``checkpoints/step_<N>/``: the model's ``save_pretrained`` files, other modules as
    ``<name>.safetensors``, and ``training_state.pt``; then ``latest``; then pruning."""
    from safetensors.torch import save_file

    root = Path(output) / "checkpoints"
    tmp, final = root / f"step_{step}.tmp", root / f"step_{step}"
    shutil.rmtree(tmp, ignore_errors=True)
    modules["model"].save_pretrained(tmp)
    stamp_recipe(tmp, recipe)
    for name, module in modules.items():
        if name != "model":
            state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
            save_file(state, str(tmp / f"{name}.safetensors"))
    scaler = getattr(accelerator, "scaler", None)
    torch.save(
        {
            "step": step,
            "optimizers": {g: o.state_dict() for g, (o, _) in optimizers.items()},
            "schedulers": {g: s.state_dict() for g, (_, s) in optimizers.items() if s is not None},
            "scaler": scaler.state_dict() if scaler is not None else None,
            "rng": _rng_state(),
            "config": config.model_dump(mode="json"),
        },
        tmp / STATE_NAME,
    )
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    (root / "latest.tmp").write_text(final.name + "\n")
    (root / "latest.tmp").replace(root / "latest")
    steps = sorted(int(p.name[5:]) for p in root.glob("step_*") if p.name[5:].isdigit())
    for old in steps[: -config.keep_checkpoints]:
        shutil.rmtree(root / f"step_{old}", ignore_errors=True)
    return final


def load_checkpoint(folder: Path, modules, optimizers, accelerator) -> int:
    """Restore everything ``save_checkpoint`` wrote; returns the step to continue from."""
    from safetensors.torch import load_file

    from gefu.core.checkpoint import load_checkpoint as read_file
    from gefu.enhancers.base import WEIGHTS_NAME

    # safetensors refuses "cpu:0", the device of a multi-process CPU run
    device = "cpu" if accelerator.device.type == "cpu" else str(accelerator.device)
    modules["model"].load_state_dict(load_file(str(folder / WEIGHTS_NAME), device=device))
    for name, module in modules.items():
        if name != "model":
            module.load_state_dict(load_file(str(folder / f"{name}.safetensors"), device))
    state = read_file(folder / STATE_NAME)
    for group, (opt, scheduler) in optimizers.items():
        opt.load_state_dict(state["optimizers"][group])
        if scheduler is not None:
            scheduler.load_state_dict(state["schedulers"][group])
    scaler = getattr(accelerator, "scaler", None)
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    _set_rng_state(state["rng"])
    return int(state["step"])
