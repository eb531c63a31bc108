"""The runner keeps per-image records of dataset-level metrics, and the report turns them into
resampled intervals: a face-detection cell (VOC mAP50 through mmdet) end to end."""

from __future__ import annotations

import pytest

pytest.importorskip("facenet_pytorch")
pytest.importorskip("mmdet")

from test_task_faces import astronaut, write_darkface  # noqa: E402,F401

from gefu.bench.config import validate_config  # noqa: E402
from gefu.bench.report.collect import load_report  # noqa: E402
from gefu.bench.report.compare import analyse  # noqa: E402
from gefu.bench.runner import Runner  # noqa: E402
from gefu.bench.store import Store  # noqa: E402
from gefu.tasks.scoring import decode  # noqa: E402


def test_face_cells_keep_records_and_get_intervals(tmp_path, astronaut):  # noqa: F811
    write_darkface(tmp_path / "darkface", astronaut)
    config = {
        "name": "faces",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "batch_size": 2,
        "enhancers": [{"name": "identity"}, {"name": "gamma", "params": {"gamma": 0.3}}],
        "datasets": [{"name": "darkface", "root": str(tmp_path / "darkface")}],
        "evaluations": [{"name": "face_detection"}],
    }
    outcome = Runner(validate_config(config), quiet=True).run()
    assert not outcome.failed
    with Store(tmp_path / "results") as store:
        for cell in outcome.computed:
            records = store.image_records(cell.key)
            assert [name for name, _ in records] == ["1.png", "2.png"]
            scoring, record = decode(records[0][1])
            assert scoring["kind"] == "voc" and record["target"]["boxes"].shape == (1, 4)
        report = analyse(load_report(store))
    (table,) = report.tables
    identity = table.row("identity").metrics["mAP50"]
    gamma = table.row("gamma").metrics["mAP50"]
    # identity finds the half-dark face only; two images with faces are too few units for a
    # bootstrap interval (gefu.bench.report.compare.MIN_UNITS): the values stand alone, tested
    assert identity.value == pytest.approx(0.5) and gamma.value == pytest.approx(1.0)
    for m in (identity, gamma):
        assert m.ci is None and m.method == "no interval: ground truth in 2 unit(s)"
    pair, _ = table.stats.result("gamma", "identity")
    assert pair.delta == pytest.approx(0.5) and pair.n == 2 and pair.ci is None
    # exact over the 4 swaps of 2 images: each leaves |delta| = 0.5 (the face gamma alone
    # finds moves with its image), so every swap is as extreme as observed
    assert pair.p == pytest.approx(1.0) and pair.exact
