"""A cell's result from the records of its shards: gathered in dataset order, scored through the
evaluation's own ``compute`` (the libraries' mAP, mIoU, ...), with timings, thumbnails and
unreadable items, ready for the store. Runs on the driver only."""

from __future__ import annotations

from gefu.bench.cell_result import CellResult
from gefu.tasks.base import SKIPPED, per_image_scores
from gefu.tasks.scoring import encode_all


def assemble_cell(cell, shards: list, task, dataset, is_reference: bool, samples: int):
    """The cell's ``CellResult`` from its shards' ``UnitResult``s (any order), or the failure
    that stopped it."""
    shards = sorted(shards, key=lambda r: r.unit.shard)
    base = dict(enhancer=cell.enhancer, dataset=cell.dataset, evaluation=cell.evaluation)
    problems = [("(dataset)", p) for p in listing_lines(dataset.findings)]
    for r in shards:
        problems += r.problems
    errors = [r.error or r.parts[cell.evaluation].error for r in shards]
    error = next((e for e in errors if e), None)
    n_images = sum(r.n_images for r in shards)
    if error is None and n_images == 0:
        error = "no readable images"
    if error:
        return failed_cell(cell, error, problems)
    names = [n for r in shards for n in r.parts[cell.evaluation].names]
    records = [x for r in shards for x in r.parts[cell.evaluation].records]
    problems += [
        (name, f"{metric} skipped: {why}")
        for name, record in zip(names, records, strict=True)
        for metric, why in (record.get(SKIPPED) or {}).items()
    ]
    # the primary metric (position 0) is the first one available on this dataset
    infos = sorted(task.metrics(dataset), key=lambda m: m.unavailable is not None)
    trivial = {m.name for m in infos if m.uses_reference} if is_reference else set()
    values = task.compute(records)
    metrics, scored = [], {m.name for m in infos} - trivial
    for m in infos:
        why = m.unavailable or ("trivial for the reference itself" if m.name in trivial else None)
        metrics.append((m.name, None if why else values.get(m.name), m.lower_better, why))
    scores = [
        (name, metric, value)
        for name, record in zip(names, records, strict=True)
        for metric, value in per_image_scores(record, scored).items()
    ]
    enhance_s = sum(r.enhance_s for r in shards)
    pixels = sum(r.pixels for r in shards)
    return CellResult(
        cell.key,
        status="ok",
        spec=cell.spec,
        n_images=n_images,
        n_skipped=len(problems),
        params=shards[0].params,
        trainable=shards[0].trainable,
        enhance_s=None if is_reference else enhance_s,
        images_per_s=n_images / enhance_s if enhance_s > 0 else None,
        ms_per_mp=1000 * enhance_s / (pixels / 1e6) if enhance_s > 0 and pixels else None,
        wall_s=sum(r.wall_s for r in shards),
        metrics=metrics,
        proportions=[m.name for m in infos if m.proportion],
        image_scores=scores,
        problems=problems,
        samples=_first_images(shards, samples),
        image_records=encode_all(task.scoring(), names, records),
        image_groups=_groups(shards, names),
        **base,
    )


def _groups(shards, names: list[str]) -> list[tuple[str, str | None, str | None]]:
    """``(image, cluster, stratum)`` of the scored images the dataset grouped."""
    found = {g[0]: g for r in shards for g in r.groups if g[1] is not None or g[2] is not None}
    return [found[n] for n in names if n in found]


def listing_lines(findings: list, most: int = 3) -> list[str]:
    """A dataset's listing findings as a run reports them: each, or past ``most`` a count
    (``gefu datasets check`` lists them all)."""
    if len(findings) <= most:
        return [str(f) for f in findings]
    return [f"{len(findings)} file problem(s) while listing; `gefu datasets check` lists them"]


def failed_cell(cell, error: str, problems=()) -> CellResult:
    return CellResult(
        cell.key,
        enhancer=cell.enhancer,
        dataset=cell.dataset,
        evaluation=cell.evaluation,
        status="failed",
        spec=cell.spec,
        error=error,
        problems=list(problems),
    )


def _first_images(shards, n: int) -> list[tuple[str, str, bytes]]:
    """The thumbnails of the first ``n`` images over the shards, in dataset order."""
    rows, images = [], []
    for r in shards:
        for row in r.samples:
            if row[0] not in images:
                if len(images) == n:
                    return rows
                images.append(row[0])
            rows.append(row)
    return rows
