"""The training YAML, validated into ``TrainConfig`` before any work starts.

Unknown keys are errors everywhere, including the method's ``params:`` (its ``Config``), the
``aux:`` networks and the ``data:`` section (checked when the method builds its datasets);
every problem is one line ``key.path: message``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from gefu.core.errors import ConfigError
from gefu.core.specs import DatasetSpec
from gefu.core.strict import StrictModel, format_errors, read_yaml_mapping, validate


class ValidationConfig(StrictModel):
    every: int = Field(100, ge=1, description="validate every N steps (and after the last)")
    dataset: DatasetSpec  # a registered paired dataset, as in a benchmark's ``datasets:``
    metrics: list[str] = Field(default_factory=lambda: ["psnr", "ssim"])
    limit: int | None = Field(8, ge=1, description="images used (None: all)")


class TrainConfig(StrictModel):
    method: str
    seed: int = 0
    output: str | None = Field(None, description="default runs/<method>")
    steps: int = Field(ge=1)
    batch_size: int = Field(8, ge=1, description="per process")
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    device: Literal["auto", "cpu"] = "auto"  # auto: what accelerate finds (GPU if any)
    grad_clip: float | None = Field(None, gt=0, description="max gradient norm; None = off")
    # torch.compile the networks the training step calls: true (inductor), a backend name, or
    # false; None: as the authors' release trained (the method's ``released_compile``)
    compile: bool | str | None = None
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(100, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    num_workers: int = Field(0, ge=0, description="data-loading worker processes")
    validation: ValidationConfig | None = None
    allow_random_aux: bool = False  # tests only: frozen aux networks with random weights
    aux: dict[str, dict[str, Any]] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def output_dir(self) -> Path:
        return Path(self.output or f"runs/{self.method}")


def load_train_config(path: str | Path, method: str | None = None) -> TrainConfig:
    """Read and validate ``path``; ``method`` (the CLI's) must match the YAML's ``method:``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"training config not found: {path}")
    data = read_yaml_mapping(path.read_text(), str(path))
    try:
        config = validate_train_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if method is not None and method != config.method:
        raise ConfigError(
            f"{path}: method: the config trains {config.method!r}, not {method!r} "
            f"(use `gefu train {config.method} --config {path}`)"
        )
    return config


def validate_train_config(data: dict) -> TrainConfig:
    from gefu.train import METHODS

    config = validate(TrainConfig, data)
    try:
        METHODS.check(config.method)
    except KeyError as exc:
        raise ConfigError(f"method: {exc}") from None
    method_config(config)
    from gefu.train.aux import validate_aux

    for name, spec in config.aux.items():
        validate_aux(name, spec)
    if config.validation is not None:
        _check_validation(config.validation)
    return config


def method_config(config: TrainConfig):
    """The method's hyperparameters: ``params:`` validated against its ``Config``."""
    from gefu.train import METHODS

    return validate(METHODS.get(config.method).Config, config.params, prefix="params")


def build_method(config: TrainConfig):
    """The method object and its training datasets; ``data:`` errors become ConfigErrors."""
    from gefu.train import METHODS

    cls = METHODS.get(config.method)
    method = cls(method_config(config), config.data)
    try:
        datasets = method.datasets()
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, cls.Data, "data")) from None
    except FileNotFoundError as exc:
        raise ConfigError(f"data: {exc}") from None
    return method, datasets


def _check_validation(v: ValidationConfig) -> None:
    from gefu.datasets import DATASETS
    from gefu.metrics import METRICS

    try:
        DATASETS.check(v.dataset.name)
    except KeyError as exc:
        raise ConfigError(f"validation.dataset.name: {exc}") from None
    if not DATASETS.get(v.dataset.name).paired:
        raise ConfigError(
            f"validation.dataset.name: {v.dataset.name!r} is not a paired dataset "
            "(wrap it in `darkened`)"
        )
    for i, name in enumerate(v.metrics):
        try:
            METRICS.check(name)
        except KeyError as exc:
            raise ConfigError(f"validation.metrics[{i}]: {exc}") from None
