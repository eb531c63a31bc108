"""Per-image metric limits stay per image: an image too small for NIQE/PIQE is skipped for that
metric and named in the cell's problems, the cell stays ok; a metric unavailable on the dataset
(PSNR without references) listed first does not leave the table unranked."""

from __future__ import annotations

import numpy as np
from PIL import Image

from conftest import write_photo
from gefu.bench.config import validate_config
from gefu.bench.report.collect import load_report
from gefu.bench.runner import Runner
from gefu.bench.store import Store


def test_small_images_are_skipped_per_metric_and_the_table_is_ranked(tmp_path):
    root = tmp_path / "photos"
    write_photo(root / "tiny.png", (1, 1))
    write_photo(root / "a.png", (64, 96), seed=1)
    write_photo(root / "b.png", (64, 96), seed=2)
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((128, 128, 3)) * 120).astype(np.uint8)).save(root / "big.png")
    config = validate_config(
        {
            "name": "t",
            "output": str(tmp_path / "results"),
            "device": "cpu",
            "batch_size": 4,
            "enhancers": [{"name": "identity"}, {"name": "gamma"}],
            "datasets": [{"name": "unpaired_folder", "root": str(root)}],
            "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr", "niqe", "piqe"]}}],
        }
    )
    outcome = Runner(config, quiet=True).run()
    assert not outcome.failed and len(outcome.computed) == 2
    with Store(tmp_path / "results", readonly=True) as store:
        report = load_report(store)
        cell = store.cell(outcome.computed[0].key)
        problems = {
            (p["item"], p["message"].split(":")[0]) for p in store.problems(cell["cell_key"])
        }
    assert problems == {
        ("tiny.png", "niqe skipped"),
        ("tiny.png", "piqe skipped"),
        ("a.png", "niqe skipped"),
        ("b.png", "niqe skipped"),
    }
    assert cell["n_images"] == 4 and cell["status"] == "ok"
    (table,) = report.tables
    assert table.primary.metric == "niqe"  # psnr is listed first but unavailable unpaired
    assert sorted(r.rank for r in table.rows) == [1, 2]
    row = table.rows[0]
    assert row.metrics["niqe"].n == 1 and row.metrics["piqe"].n == 3
