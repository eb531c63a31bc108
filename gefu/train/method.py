"""What a training method supplies to the shared loop.

The loop (``gefu.train.loop``) owns everything generic: accelerate (CPU, GPU, DDP, mixed
precision), seeding, the data stream, logging, validation, checkpoints and resuming. A method
owns only what is specific to it, through this interface:

    modules()      the networks it trains, by name; "model" is the enhancer that is saved
    optimizers()   one optimizer (and optionally a scheduler) per trainable group
    datasets()     named torch datasets; the loop draws one batch from each per step
    train_step()   losses for one step, applied through the ``StepContext``

Hyperparameters come from the ``method:`` section of the training YAML, validated against the
method's ``Config`` (a pydantic model with the paper's values as defaults).

Paper-versus-release switches: where the paper and the authors' released code disagree, the
choice is a named field of the method's ``Config``, listed in its ``release_switches`` with the
released value. ``recipe()`` records every resolved hyperparameter and each switch (its value,
the released value) in the trained model's ``config.json`` (key ``training``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from gefu.core.registry import RegisteredName
from gefu.core.strict import StrictModel, validate


class MethodConfig(StrictModel):
    """Base of every method's hyperparameters: unknown keys are errors."""

    # paper-versus-release switches: field name -> the value the authors' released code uses
    release_switches: ClassVar[dict[str, Any]] = {}


class StepContext(Protocol):
    """Given to ``train_step`` by the loop."""

    device: Any
    step: int  # 0-based index of the step being taken

    def backward(self, loss, optimizer: str) -> None:
        """Backpropagate ``loss`` (mixed precision and DDP aware)."""

    def step_optimizer(self, optimizer: str) -> None:
        """Clip the group's gradients (``grad_clip`` of the config), step, zero grad, step its
        scheduler."""

    def aux(self, name: str):
        """A frozen auxiliary network from the ``aux:`` section (see ``gefu.train.aux``)."""


class TrainMethod:
    """Subclass per method; listed by name in its folder's manifest (``TRAINING``)."""

    registry_name = RegisteredName("gefu.train:METHODS")  # the name it is listed under
    enhancer: ClassVar[str]  # the registered enhancer its checkpoints load as
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    # the ``data:`` section's model (its sources are dataset entries, as in a benchmark)
    Data: ClassVar[type[BaseModel] | None] = None
    # names of the frozen auxiliary networks it needs (e.g. "segmenter", "vgg"); see aux.py
    aux_networks: ClassVar[tuple[str, ...]] = ()
    # whether the authors' release trained under torch.compile (the default of ``compile:``)
    released_compile: ClassVar[bool] = False

    def __init__(self, config: MethodConfig, data: dict[str, Any]):
        self.config = config
        self.data = data  # the YAML's ``data:`` section, validated by datasets()

    def modules(self) -> dict[str, Any]:
        """Trainable networks by name; ``"model"`` must be the ``Enhancer`` that is saved."""
        raise NotImplementedError

    def optimizers(self, modules: dict[str, Any]) -> dict[str, tuple[Any, Any | None]]:
        """``{group: (optimizer, scheduler or None)}``; the group names are used by the
        ``StepContext`` and in checkpoints."""
        raise NotImplementedError

    def compile_modules(self, modules: dict[str, Any], backend: str = "inductor") -> None:
        """``torch.compile`` what the training step calls, in place (``nn.Module.compile``:
        state-dict keys unchanged). By default the model's forward; methods whose step calls
        other entry points compile the submodules those call."""
        modules["model"].compile(backend=backend)

    def datasets(self) -> dict[str, Any]:
        """Named map-style torch datasets of training samples (tensors or dicts of tensors);
        each step draws one batch from each, through a seeded sampler that resumes exactly."""
        raise NotImplementedError

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        """One optimisation step; returns the values to log (every loss term, unweighted and
        the weighted total)."""
        raise NotImplementedError

    def recipe(self) -> dict[str, Any]:
        """What produced the model: the resolved hyperparameters and data section, and each
        paper-versus-release switch with the released value beside it."""
        c = self.config
        data = getattr(self, "data_config", None)
        if data is None and self.Data is not None:
            data = validate(self.Data, self.data, "data")
        switches = {
            name: {
                "value": getattr(c, name),
                "release": released,
                "as_released": getattr(c, name) == released,
            }
            for name, released in c.release_switches.items()
        }
        return {
            "method": self.registry_name,
            "params": c.model_dump(mode="json"),
            "data": data.model_dump(mode="json") if isinstance(data, BaseModel) else self.data,
            "switches": switches,
        }
