"""Every config shipped in configs/ is valid: known names, known parameters, right types.
Dataset roots and checkpoints are the user's, so their existence is not checked here."""

from __future__ import annotations

import pytest

from conftest import REPO
from gefu.bench.config import load_config

BENCHMARKS = sorted(p for p in (REPO / "configs").rglob("*.yaml") if "train" not in p.parts)
TRAINING = sorted((REPO / "configs" / "train").glob("*.yaml"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_config_is_valid(path):
    config = load_config(path, check_paths=False)
    assert config.enhancers and config.datasets and config.evaluations


@pytest.mark.parametrize("path", TRAINING, ids=lambda p: p.name)
def test_training_config_is_valid(path):
    from gefu.train.config import load_train_config

    config = load_train_config(path)
    assert config.steps > 0
