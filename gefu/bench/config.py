"""Benchmark configs: safe YAML, validated into typed objects before any work starts.

Every problem is reported as ``key.path: message`` with the valid choices where there are any.
Relative paths are resolved against the current working directory.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, ValidationError

from gefu.core.errors import ConfigError
from gefu.core.params import constructor_params, param_type_problems, unknown_params
from gefu.core.specs import (
    RESERVED_IDS,
    SEED_MARK,
    DatasetSpec,
    EnhancerSpec,
    EvaluationSpec,
)
from gefu.core.strict import StrictModel, format_errors, read_yaml_mapping


class BenchmarkConfig(StrictModel):
    name: str
    output: str | None = Field(None, description="results folder; default results/<name>")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = Field(4, ge=1)
    threads: int | None = Field(
        None, ge=1, description="CPU threads (default: the free CPUs; see gefu.bench.threads)"
    )
    include_reference: bool = Field(True, description="score the references of paired sets")
    samples: int = Field(3, ge=0, description="sample crops per dataset kept for the report")
    enhancers: list[EnhancerSpec] = Field(min_length=1)
    datasets: list[DatasetSpec] = Field(min_length=1)
    evaluations: list[EvaluationSpec] = Field(min_length=1)
    _left_out: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def left_out(self) -> dict[str, str]:
        """The optional enhancers left out of this run: label -> the missing weights path."""
        return dict(self._left_out)

    @property
    def output_dir(self) -> Path:
        return Path(self.output or f"results/{self.name}")


# -- loading ----------------------------------------------------------------------------
def default_config_text() -> str:
    return resources.files("gefu.bench").joinpath("default.yaml").read_text()


def load_config(
    path: str | Path | None = None, check_params: bool = True, check_paths: bool = True
) -> BenchmarkConfig:
    """Read and validate a config file (``None``: the embedded default benchmark);
    ``check_paths=False`` skips the existence checks of roots and weights."""
    if path is None:
        text, where = default_config_text(), "embedded default config"
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        text, where = path.read_text(), str(path)
    data = read_yaml_mapping(text, where)
    try:
        return validate_config(data, check_params=check_params, check_paths=check_paths)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def validate_config(
    data: dict, check_params: bool = True, check_paths: bool = True
) -> BenchmarkConfig:
    try:
        config = BenchmarkConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, BenchmarkConfig)) from None
    config.evaluations = expand_seeds(config.evaluations)
    if check_paths:
        _leave_out_untrained(config)
    problems = _check_names_and_paths(config, check_paths)
    if check_params:  # in the same pass: every problem is listed at once
        problems += _check_params(config, check_paths)
    if problems:
        raise ConfigError("\n  ".join(["invalid config:", *problems]))
    return config


def expand_seeds(evaluations: list[EvaluationSpec]) -> list[EvaluationSpec]:
    """An entry with ``seeds: [0, 1, 2]`` becomes one entry per seed, ``id`` ``<id>@seed<N>``
    and ``params.seed`` N: each seed is a cell of its own (cached, run and failed alone)."""
    out = []
    for spec in evaluations:
        if spec.seeds is None:
            out.append(spec)
            continue
        if "seed" in spec.params:
            raise ConfigError(f"evaluation {spec.label!r}: give `seeds` or `params.seed`, not both")
        if len(set(spec.seeds)) != len(spec.seeds):
            raise ConfigError(f"evaluation {spec.label!r}: `seeds` lists a seed twice")
        for seed in spec.seeds:
            out.append(
                spec.model_copy(
                    update={
                        "id": f"{spec.label}{SEED_MARK}{seed}",
                        "params": {**spec.params, "seed": seed},
                        "seeds": None,
                    }
                )
            )
    return out


# -- checks -----------------------------------------------------------------------------
def _leave_out_untrained(config: BenchmarkConfig) -> None:
    """Drop ``optional`` enhancers whose weights do not exist (yet), noting each; a release
    name counts as existing once it is in the weights cache (optional rows never download)."""
    kept = []
    for spec in config.enhancers:
        if spec.optional and spec.weights and not weights_exist(spec.weights):
            config._left_out[spec.label] = spec.weights
        else:
            kept.append(spec)
    if not kept:
        raise ConfigError("enhancers: every enhancer is optional and none has its weights")
    config.enhancers = kept


def _sections():
    from gefu.datasets import DATASETS
    from gefu.enhancers import ENHANCERS
    from gefu.tasks import TASKS

    return (("enhancers", ENHANCERS), ("datasets", DATASETS), ("evaluations", TASKS))


def _check_names_and_paths(config: BenchmarkConfig, check_paths: bool = True) -> list[str]:
    from gefu.enhancers.weights import is_release_name

    problems = []
    for section, registry in _sections():
        labels = set()
        for i, spec in enumerate(getattr(config, section)):
            where = f"{section}[{i}]"
            try:
                registry.check(spec.name)
            except KeyError as exc:
                problems.append(f"{where}.name: {exc}")
            if spec.label in labels:
                problems.append(f"{where}: duplicate id {spec.label!r} (set a distinct `id:`)")
            labels.add(spec.label)
            if section == "enhancers" and spec.label in RESERVED_IDS:
                problems.append(f"{where}: id {spec.label!r} is reserved")
            if not check_paths:
                continue
            if getattr(spec, "root", None) and not Path(spec.root).expanduser().exists():
                problems.append(f"{where}.root: folder {spec.root} does not exist")
            weights = getattr(spec, "weights", None)
            if weights and is_release_name(weights):
                problems += _fetch_release(spec, where)
            elif weights and not Path(weights).expanduser().exists():
                problems.append(f"{where}.weights: {weights} does not exist")
    return problems


def weights_exist(weights: str) -> bool:
    """A path that exists, or a release name whose file is cached or mirrored (no download)."""
    from gefu.enhancers.weights import available_offline, is_release_name

    if is_release_name(weights):
        return available_offline(weights)
    return Path(weights).expanduser().exists()


def _fetch_release(spec, where: str) -> list[str]:
    """A release named as weights: fetched now, on the driver, so workers find it cached."""
    from gefu.enhancers.weights import RELEASES, fetch

    release = RELEASES[spec.weights]
    if release.enhancer != spec.name:
        return [f"{where}.weights: release {spec.weights!r} holds {release.enhancer!r} weights"]
    try:
        fetch(release, log=lambda m: print(m, file=sys.stderr))
    except (OSError, ValueError) as exc:
        return [f"{where}.weights: {exc}"]
    return []


def _check_params(config: BenchmarkConfig, check_paths: bool = True) -> list[str]:
    """Params against the constructor signature: unknown, missing and reserved keys, values
    of the wrong type, and what the component's own ``check_params(params, where)`` finds
    (e.g. the metric names of ``iqa``). Unknown names are reported by the name check."""
    problems = []
    for section, registry in _sections():
        for i, spec in enumerate(getattr(config, section)):
            where = f"{section}[{i}].params"
            if spec.name not in registry.names():
                continue
            try:
                cls = registry.get(spec.name)
            except Exception as exc:  # a plugin that fails to import
                problems.append(f"{section}[{i}].name: cannot load {spec.name!r}: {exc}")
                continue
            accepted, required = constructor_params(cls)
            given = set(spec.params)
            for key in sorted(given & {"root", "limit", "weights"}):
                problems.append(f"{where}.{key}: set `{key}` beside `params`, not inside it")
            problems += unknown_params(cls, spec.name, given - {"root", "limit", "weights"}, where)
            needs = getattr(cls, "needs_weights", False) and check_paths
            if needs and not getattr(spec, "weights", None):
                problems.append(
                    f"{section}[{i}].weights: {spec.name!r} is a learned enhancer and needs "
                    "trained weights (a checkpoint folder from `gefu train`, or a file)"
                )
            top = {"root"} if getattr(spec, "root", None) else set()
            for key in sorted(required - given - top):
                problems.append(f"{where}.{key}: required by {spec.name!r} but not given")
            known = {k: v for k, v in spec.params.items() if accepted is None or k in accepted}
            problems += param_type_problems(cls, known, where)
            if hasattr(cls, "check_params"):
                problems += cls.check_params(known, where)
    return problems
