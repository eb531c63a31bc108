"""A new frozen-model family is one new file plus one registration line: a throwaway detector
in its own module, registered through the ``gefu.model_families`` entry-point group (the line),
runs a detection evaluation end to end through the runner as ``model: {family: throwaway}``."""

from __future__ import annotations

import pytest
from plugin_dist import make_plugin, rescan_plugins

from gefu.bench.config import validate_config
from gefu.bench.runner import Runner
from gefu.bench.store import Store
from gefu.core.errors import ConfigError

pytest.importorskip("pycocotools")

FAMILY = '''
"""A throwaway detector family: one box per image, from the left edge to a width that is the
image's mean brightness times ``reach`` of the image width (score 1, class "thing")."""
import numpy as np

from gefu.tasks.frozen import FrozenModel


class Throwaway(FrozenModel):
    family = "throwaway"
    serves = ("detector",)

    def __init__(self, reach: float = 1.0):
        self.reach = float(reach)

    def unavailable(self, download=False):
        return None  # nothing to download

    def spec(self):
        return {"family": self.family, "reach": self.reach}

    def build(self, device):
        return Boxes(self.reach)


class Boxes:
    classes = ("thing",)

    def __init__(self, reach):
        self.reach = reach

    def predict(self, images):
        h, w = images.shape[-2:]
        out = []
        for image in images:
            right = min(w, w * self.reach * float(image.mean()))
            out.append({
                "boxes": np.array([[0, 0, right, h]], np.float32),
                "scores": np.ones(1, np.float32),
                "labels": np.zeros(1, np.int64),
            })
        return out
'''


@pytest.fixture
def throwaway(tmp_path, monkeypatch):
    """The family's file and its one registration line, installed like a distribution; the
    registry scans entry points afresh and is restored afterwards."""
    from gefu.tasks import FAMILIES

    site = tmp_path / "site"
    entry = {"gefu.model_families": "throwaway = gefu_throwaway:Throwaway"}
    make_plugin(site, "gefu_throwaway", FAMILY, entry)
    monkeypatch.syspath_prepend(str(site))
    rescan_plugins(FAMILIES, monkeypatch)
    return FAMILIES


def config(tmp_path, paired_dir, evaluations) -> dict:
    return {
        "name": "family",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "batch_size": 2,
        "enhancers": [{"name": "identity"}],
        "datasets": [{"name": "paired_folder", "root": str(paired_dir)}],
        "evaluations": evaluations,
    }


def test_a_new_family_is_one_file_and_one_registration_line(tmp_path, paired_dir, throwaway):
    assert "throwaway" in throwaway.names() and throwaway.origin("throwaway") == "gefu-throwaway"
    evaluations = [
        # the reference (bright) box is about 4x as wide as the dark input's: IoU < 0.5
        {"name": "detection_consistency", "id": "by-brightness", "params": {"metric": "coco"}},
        # reach 100 clips every box to the whole image: the same box on both, a perfect score
        {"name": "detection_consistency", "id": "whole", "params": {"metric": "coco"}},
    ]
    evaluations[0]["params"]["model"] = {"family": "throwaway"}
    evaluations[1]["params"]["model"] = {"family": "throwaway", "reach": 100}
    outcome = Runner(validate_config(config(tmp_path, paired_dir, evaluations)), quiet=True).run()
    assert not outcome.failed, outcome.failed
    values = {}
    with Store(tmp_path / "results") as store:
        for cell in outcome.computed:
            if cell.enhancer == "identity":
                metrics = {r["metric"]: r["value"] for r in store.cell_metrics(cell.key)}
                values[cell.evaluation] = metrics["mAP50"]
                model = cell.spec["evaluation"]["task"]["model"]
                assert model["family"] == "throwaway"
    assert values == {"by-brightness": 0.0, "whole": pytest.approx(1.0)}


def test_its_options_are_checked_by_its_own_signature(tmp_path, paired_dir, throwaway):
    bad = [
        {"name": "detection", "params": {"model": {"family": "throwaway", "reech": 2}}},
        {"name": "face_detection", "params": {"model": {"family": "throwaway"}}},
    ]
    with pytest.raises(ConfigError) as err:
        validate_config(config(tmp_path, paired_dir, bad))
    assert "model.reech: unknown option of model family 'throwaway'; valid: reach" in str(err.value)
    assert "'throwaway' serves detector, not face_detector" in str(err.value)
