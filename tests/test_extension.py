"""README "Where things live": an enhancer, a dataset, a metric and a CLI command, each added
as ONE new file plus one registration line (an entry point), and then run through `gefu`.
Nothing in the suite is edited; the registries find them through their entry-point groups."""

from __future__ import annotations

import csv

import yaml
from plugin_dist import gefu, make_plugin

ENHANCER = '''
"""Doubles the brightness: undoes the dataset's halving exactly."""
from gefu.enhancers.base import Enhancer


class Doubler(Enhancer):
    def forward(self, x):
        return (2 * x).clamp(0, 1)
'''

DATASET = '''
"""Three flat grey pairs made in memory: reference 0.25, 0.5, 0.75; input half of it."""
import hashlib

import torch

from gefu.datasets.base import Dataset, Sample


class HalfGrey(Dataset):
    paired = True

    def __init__(self, root=None, limit=None, size: int = 16):
        super().__init__(root, limit)
        self.size = size
        self.levels = self._limited([0.25, 0.5, 0.75])

    def __len__(self):
        return len(self.levels)

    def name_of(self, index):
        return f"grey{index}.png"

    def load(self, index):
        ref = torch.full((3, self.size, self.size), self.levels[index])
        return Sample(self.name_of(index), ref / 2, ref)

    def fingerprint(self):
        return hashlib.sha256(repr((self.levels, self.size)).encode()).hexdigest()
'''

METRIC = '''
"""Mean absolute error against the reference, per image."""
from gefu.metrics.base import Metric


class MeanAbsError(Metric):
    lower_better = True
    full_reference = True

    def __call__(self, images, references=None):
        return (images - references).abs().flatten(1).mean(1)
'''

COMMAND = '''
"""`gefu hello NAME`: greets, and exits with status 3 so that the test sees it ran."""
HELP = "say hello (a plugin command)"


def add_arguments(p):
    p.add_argument("who")


def main(args):
    print(f"hello {args.who}, from a plugin")
    return 3
'''


def test_enhancer_dataset_and_metric_in_one_file_each(tmp_path):
    site = tmp_path / "site"
    make_plugin(site, "x_doubler", ENHANCER, {"gefu.enhancers": "doubler = x_doubler:Doubler"})
    make_plugin(site, "x_grey", DATASET, {"gefu.datasets": "half_grey = x_grey:HalfGrey"})
    make_plugin(site, "x_mae", METRIC, {"gefu.metrics": "mae = x_mae:MeanAbsError"})
    config = {
        "name": "extension",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "enhancers": [{"name": "identity"}, {"name": "doubler"}],
        "datasets": [{"name": "half_grey", "params": {"size": 12}}],
        "evaluations": [{"name": "iqa", "params": {"metrics": ["mae"]}}],
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    done = gefu(site, "run", str(tmp_path / "c.yaml"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    with open(tmp_path / "results" / "leaderboard.csv", encoding="utf-8") as f:
        rows = {r["enhancer"]: r for r in csv.DictReader(f) if r["metric"] == "mae"}
    assert {r["dataset"] for r in rows.values()} == {"half_grey"}
    assert rows.pop("reference")["reason"] == "trivial for the reference itself"
    assert {r["status"] for r in rows.values()} == {"ok"}
    assert float(rows["doubler"]["value"]) == 0.0  # 2 * (ref / 2) == ref, exactly
    # zero error everywhere is no variation, not a proportion (no metric declares it one)
    assert rows["doubler"]["ci_method"] == "no variation", rows["doubler"]
    assert float(rows["identity"]["value"]) == (0.125 + 0.25 + 0.375) / 3
    assert rows["doubler"]["lower_better"] == "true" and rows["doubler"]["n_images"] == "3"

    listed = gefu(site, "list")
    for name, origin in (("doubler", "x-doubler"), ("half_grey", "x-grey"), ("mae", "x-mae")):
        assert any(name in line and origin in line for line in listed.stdout.splitlines())


def test_cli_command_in_one_file(tmp_path):
    site = tmp_path / "site"
    make_plugin(site, "x_hello", COMMAND, {"gefu.commands": "hello = x_hello"})
    done = gefu(site, "hello", "world")
    assert (done.returncode, done.stdout) == (3, "hello world, from a plugin\n"), done.stderr
    listed = gefu(site, "--help")
    assert "say hello (a plugin command)" in listed.stdout
    assert "run a benchmark config" in listed.stdout  # the built-ins are all still there


def test_a_broken_plugin_command_is_named_and_left_out(tmp_path):
    site = tmp_path / "site"
    make_plugin(
        site, "x_broken", '"""No add_arguments, no main."""\n', {"gefu.commands": "oops = x_broken"}
    )
    done = gefu(site, "doctor", "--help")
    assert done.returncode == 0
    assert "command 'oops' (from x-broken) left out" in done.stderr
    assert "lacks add_arguments, main" in done.stderr
