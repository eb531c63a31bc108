"""The ``iqa`` evaluation on tiny paired and unpaired batches."""

from __future__ import annotations

import math

import pytest
import torch

from gefu.core.registry import RegistryError
from gefu.datasets.base import Sample
from gefu.metrics import create_metric
from gefu.tasks import TASKS, create_task
from gefu.tasks.iqa import DEFAULT_METRICS, IQA, NO_REFERENCE


class FakeDataset:
    def __init__(self, paired: bool):
        self.paired = paired


def textured(n: int, size: int = 96, seed: int = 0) -> torch.Tensor:
    """Smooth random images with some texture (NIQE needs 96x96 and a non-flat image)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 8, size // 8, generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")
    return (0.8 * smooth + 0.2 * torch.rand(n, 3, size, size, generator=g)).clamp(0, 1)


def samples(images, references=None) -> list[Sample]:
    refs = [None] * len(images) if references is None else list(references)
    return [Sample(f"{i}.png", img, reference=r) for i, (img, r) in enumerate(zip(images, refs))]


@pytest.fixture(scope="module")
def task() -> IQA:
    t = IQA()
    t.setup("cpu")
    return t


def test_registered_with_sensible_defaults():
    assert TASKS.get("iqa") is IQA
    task = create_task("iqa", metrics=None)  # None falls back to the default
    assert (
        [m.name for m in task.metrics()]
        == list(DEFAULT_METRICS)
        == ["psnr", "ssim", "niqe", "piqe"]
    )
    assert all(m.unavailable is None for m in task.metrics())
    psnr = task.metrics()[0]
    assert psnr.lower_better is False and psnr.uses_reference is True
    niqe = task.metrics()[2]
    assert niqe.lower_better is True and niqe.uses_reference is False


def test_paired_batch_scores_every_image(task):
    enhanced, reference = textured(3, seed=1), textured(3, seed=2)
    rows = task.process(enhanced, samples(enhanced, reference))
    assert len(rows) == 3 and all(set(r) == set(DEFAULT_METRICS) for r in rows)
    direct = create_metric("psnr")(enhanced, reference)
    assert [r["psnr"] for r in rows] == pytest.approx(direct.tolist())
    assert all(0 < r["ssim"] < 1 and math.isfinite(r["niqe"]) for r in rows)
    means = task.compute(rows)
    assert means["niqe"] == pytest.approx(sum(r["niqe"] for r in rows) / 3)


def test_reference_against_itself_is_perfect(task):
    reference = textured(2, seed=3)
    rows = task.process(reference.clone(), samples(reference, reference))
    assert all(r["ssim"] == pytest.approx(1.0) and r["psnr"] >= 60 for r in rows)


def test_unpaired_batch_reports_no_reference_metrics_only(task):
    enhanced = textured(2, seed=4)
    rows = task.process(enhanced, samples(enhanced))
    assert all(set(r) == {"niqe", "piqe"} for r in rows)
    unpaired = {m.name: m.unavailable for m in task.metrics(FakeDataset(paired=False))}
    assert unpaired == {"psnr": NO_REFERENCE, "ssim": NO_REFERENCE, "niqe": None, "piqe": None}
    assert all(m.unavailable is None for m in task.metrics(FakeDataset(paired=True)))
    assert task.incompatible(FakeDataset(paired=False)) is None


def test_incompatible_only_when_no_metric_can_run(monkeypatch, tmp_path):
    full_ref = IQA(metrics=["psnr", "ssim"])
    assert full_ref.incompatible(FakeDataset(paired=True)) is None
    reason = full_ref.incompatible(FakeDataset(paired=False))
    assert reason.startswith("no metric can run") and NO_REFERENCE in reason
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no weights here
    learned = IQA(metrics=["lpips", "musiq"])
    assert "weights not found offline" in learned.incompatible(FakeDataset(paired=True))
    mixed = IQA(metrics=["lpips", "piqe"])
    assert mixed.incompatible(FakeDataset(paired=True)) is None
    mixed.setup("cpu")  # sets up piqe only, never tries to fetch LPIPS
    rows = mixed.process(textured(1), samples(textured(1), textured(1)))
    assert set(rows[0]) == {"piqe"}


def test_a_failing_metric_names_itself_and_the_images():
    black = torch.zeros(2, 3, 32, 32)  # PIQE divides by the maximum
    with pytest.raises(RuntimeError, match=r"metric 'piqe' failed on 0.png, 1.png: .*finite"):
        IQA(metrics=["piqe"]).process(black, samples(black))


def test_images_a_metric_cannot_score_are_skipped_for_it_alone():
    small = torch.rand(2, 3, 32, 32)
    small[1] = 0.5
    rows = IQA(metrics=["niqe", "piqe"]).process(small, samples(small))
    assert [set(r) for r in rows] == [{"piqe", "skipped"}] * 2
    assert rows[0]["skipped"] == {"niqe": "needs at least 96x96 pixels, got 32x32"}


def test_bad_arguments():
    with pytest.raises(RegistryError, match="Did you mean 'psnr'"):
        IQA(metrics=["psnrr"])
    with pytest.raises(ValueError, match="twice"):
        IQA(metrics=["psnr", "psnr"])
    with pytest.raises(ValueError, match="at least one"):
        IQA(metrics=[])
    task = IQA(metrics=["psnr"])
    images = textured(2)
    mixed = [Sample("a", images[0], reference=images[0]), Sample("b", images[1])]
    with pytest.raises(ValueError, match="mixes"):
        task.process(images, mixed)


def test_spec_holds_every_metric_spec():
    spec = IQA(metrics=["psnr_y", "niqe"]).spec()
    assert spec["task"] == "iqa"
    assert [m["name"] for m in spec["metrics"]] == ["psnr_y", "niqe"]
    assert len(spec["metrics"][1]["params_sha256"]) == 64
