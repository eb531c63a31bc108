"""A unit of work and the worker that runs it, wherever it runs (this process, a worker process,
a Ray worker on another machine).

A unit is one shard of a dataset through one row (enhancer or reference) into every pending
evaluation of that pair. It is a plain, picklable description; its result is plain records
(per-image task records, timings, unreadable items, report thumbnails). Nothing here writes the
store: the driver gathers the shards of each cell and writes it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from gefu.bench.batches import batch_seed, iter_batches, short_error, thumbnail
from gefu.core.hashing import code_hash, digest


@dataclass(frozen=True)
class Unit:
    dataset: str
    row: str  # enhancer label, or the reference row
    evaluations: tuple[str, ...]
    start: int  # dataset indices start:stop (start a multiple of the batch size)
    stop: int
    shard: int  # position among the group's shards
    seed_key: str  # the row's and dataset's cache keys: part of every batch's seed


@dataclass
class EvaluationPart:
    """One evaluation's per-image records over a shard, or why it failed there."""

    names: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class UnitResult:
    unit: Unit
    n_items: int = 0  # images attempted (read or not)
    n_images: int = 0  # images enhanced and scored
    pixels: int = 0
    enhance_s: float = 0.0
    wall_s: float = 0.0
    problems: list[tuple[str, str]] = field(default_factory=list)  # unreadable item, why
    samples: list[tuple[str, str, bytes]] = field(default_factory=list)  # image, kind, png
    groups: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # see Sample
    parts: dict[str, EvaluationPart] = field(default_factory=dict)
    error: str | None = None  # reading, the row or the samples failed: the whole unit
    params: int | None = None
    trainable: bool | None = None


class Worker:
    """Runs units on one device; builds each row once and keeps it, and takes the datasets and
    evaluations from ``parts`` (``gefu.bench.parts``: the grid's, in the driver's process)."""

    def __init__(
        self, config, device: str, *, save_images: bool = False, debug: bool = False, parts=None
    ):
        from gefu.bench.parts import Parts

        self.config, self.device = config, device
        self.save_images, self.debug = save_images, debug
        self.parts = parts or Parts()
        self._rows: dict[str, Any] = {}
        self._ready: set[str] = set()
        self._crops: dict[tuple[str, str, str], bytes] = {}  # input/reference thumbnails

    def run(self, unit: Unit, advance=None) -> UnitResult:
        """Enhance the shard batch by batch and feed every evaluation; ``advance(n)`` is told
        of each batch's items."""
        import torch

        result = UnitResult(unit, parts={e: EvaluationPart() for e in unit.evaluations})
        started = time.perf_counter()
        try:
            row = self._row(unit.row)
        except Exception as exc:
            result.error = f"cannot build enhancer: {short_error(exc, self.debug)}"
            return result
        result.params, result.trainable = row.params, row.trainable
        ds = self._dataset(unit.dataset)
        for label, part in result.parts.items():
            try:
                self._setup(label, ds)
            except Exception as exc:
                part.error = f"{label} setup failed: {short_error(exc, self.debug)}"
        self._prepare(unit, row, result)
        with torch.inference_mode():
            try:
                for batch, bad in iter_batches(ds, self.config.batch_size, unit.start, unit.stop):
                    result.problems += bad
                    result.n_items += len(batch) + len(bad)
                    if batch:
                        self._batch(unit, row, batch, result)
                    if advance:
                        advance(len(batch) + len(bad))
            except Exception as exc:  # the row, reading, samples or saving: the whole unit
                result.error = short_error(exc, self.debug)
        result.wall_s = time.perf_counter() - started
        return result

    def _batch(self, unit: Unit, row, batch, result: UnitResult) -> None:
        import torch

        # Enhancers that draw from torch's global RNG (HVR-SSLE's latents, SCUF's posterior
        # sample, as released) give the same output on every run and in every shard: the seed
        # is a function of the cell's row and dataset keys and the batch's images.
        torch.manual_seed(batch_seed(unit.seed_key, batch))
        out, secs = row(batch)
        result.enhance_s += secs
        result.pixels += sum(s.image.shape[-1] * s.image.shape[-2] for s in batch)
        kept = len({name for name, _, _ in result.samples})
        for i, s in enumerate(batch[: max(0, self.config.samples - kept)]):
            result.samples += self._thumbnails(unit.dataset, s, out[i])
        result.n_images += len(batch)
        result.groups += [(s.name, s.cluster, s.stratum) for s in batch]
        for label, part in result.parts.items():
            if part.error:
                continue
            try:
                rows = self._task(label).process(out, batch)
                if len(rows) != len(batch):
                    raise ValueError(f"{len(rows)} record(s) for a batch of {len(batch)}")
                part.records += rows
                part.names += [s.name for s in batch]
            except Exception as exc:
                part.error = f"{label} failed: {short_error(exc, self.debug)}"
        if self.save_images:
            self._save(unit, batch, out)

    def _prepare(self, unit: Unit, row, result: UnitResult) -> None:
        """Evaluations that first train on the row's output (``prepare_row``: a fine-tuned
        detector, ``gefu.tasks.finetune``) do it here, once per unit, outside inference mode:
        the training split goes through the row (once, kept under ``finetune/data/``), then
        the evaluation trains on it."""
        for label, part in result.parts.items():
            if part.error or not hasattr(task := self._task(label), "prepare_row"):
                continue
            try:
                data, data_key = self._enhanced_training_split(unit, row, task)
                task.prepare_row(data, data_key, self.config.output_dir / "finetune")
            except Exception as exc:
                part.error = f"{label} fine-tune failed: {short_error(exc, self.debug)}"

    def _enhanced_training_split(self, unit: Unit, row, task):
        from gefu.bench.finetune_data import enhanced_split
        from gefu.bench.keys import dataset_key, enhancer_key

        specs = {s.label: s for s in self.config.enhancers}
        d_spec = next(s for s in self.config.datasets if s.label == unit.dataset)
        spec = task.train_spec(d_spec)
        ds = self.parts.dataset(spec)
        if tuple(ds.classes) != tuple(task.classes or ()):
            raise ValueError(
                f"the training split's classes {ds.classes} are not the test split's {task.classes}"
            )
        row_key = enhancer_key(specs.get(unit.row))
        data_key = digest([row_key, dataset_key(spec, ds), code_hash(enhanced_split)])
        folder = self.config.output_dir / "finetune" / "data"
        log = lambda m: print(f"finetune: {m}", file=sys.stderr)  # noqa: E731
        data = enhanced_split(row, ds, data_key, folder, self.config.batch_size, log=log)
        return data, data_key

    # -- the parts, built once --------------------------------------------------------------
    def _row(self, label: str):
        if label not in self._rows:
            from gefu.bench.rows import build_row

            specs = {s.label: s for s in self.config.enhancers}
            self._rows[label] = build_row(label, specs.get(label), self.device)
        return self._rows[label]

    def _dataset(self, label: str):
        return self.parts.dataset(next(s for s in self.config.datasets if s.label == label))

    def _task(self, label: str):
        return self.parts.task(next(s for s in self.config.evaluations if s.label == label))

    def _setup(self, label: str, ds) -> None:
        task = self._task(label)
        task.bind(ds)  # as the grid did (a no-op on the grid's own objects)
        if label not in self._ready:
            task.setup(self.device)
            self._ready.add(label)

    def _thumbnails(self, dataset: str, sample, out) -> list[tuple[str, str, bytes]]:
        """Report crops of an image: its input and reference once per worker (every row
        shows the same), its output each time."""
        from gefu.io import png_bytes

        rows = []
        for kind, image in (("input", sample.image), ("reference", sample.reference)):
            key = (dataset, sample.name, kind)
            if image is not None and key not in self._crops:
                self._crops[key] = png_bytes(thumbnail(image))
            if image is not None:
                rows.append((sample.name, kind, self._crops[key]))
        return [*rows, (sample.name, "output", png_bytes(thumbnail(out)))]

    def _save(self, unit: Unit, batch, out) -> None:
        from gefu.io import write_image

        folder = images_folder(self.config, unit.dataset, unit.row)
        for s, img in zip(batch, out, strict=True):
            write_image(folder / f"{safe_name(s.name).rsplit('.', 1)[0]}.png", img)


def images_folder(config, dataset: str, row: str):
    """Where ``--save-images`` writes a row's enhanced images of a dataset."""
    return config.output_dir / "images" / safe_name(dataset) / safe_name(row)


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)
