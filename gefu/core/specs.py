"""The entries that name a component in any config: an enhancer, a dataset or an evaluation
(registry name, label and constructor params), shared by benchmark and training configs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gefu.core.strict import StrictModel

REFERENCE_ROW = "reference"  # the row scoring the normal-light references of paired sets
RESERVED_IDS = {REFERENCE_ROW}


class ComponentSpec(StrictModel):
    name: str = Field(description="registered name (see `gefu list`)")
    id: str | None = Field(None, description="label in leaderboards; defaults to name")
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.id or self.name


class EnhancerSpec(ComponentSpec):
    weights: str | None = None
    optional: bool = Field(
        False, description="leave this enhancer out, with a note, while its weights are missing"
    )


class DatasetSpec(ComponentSpec):
    root: str | None = None
    limit: int | None = Field(None, ge=1)
    # The report's sampling units (not part of any result): a regex on the image name (its
    # first group, else the match), false for none, or unset for what the reader says.
    cluster_by: str | Literal[False] | None = Field(
        None, description="independent units: regex on the image name, or false (images)"
    )
    stratify_by: str | Literal[False] | None = Field(
        None, description="repeated conditions (e.g. darkness level): regex, or false"
    )


OWN_PROTOCOL = "gefu: own"  # an evaluation that follows no published protocol
SEED_MARK = "@seed"  # <evaluation id>@seed<N>: one of a seeded evaluation's cells


class EvaluationSpec(ComponentSpec):
    protocol: str = Field(
        OWN_PROTOCOL,
        min_length=1,
        description="the published protocol the numbers follow, e.g. 'GEFU ICCV 2025 frozen'",
    )
    seeds: list[int] | None = Field(
        None,
        min_length=1,
        description="one evaluation per seed (param `seed`), labelled <id>@seed<N>: "
        "a fine-tuned model per seed (finetune_detection)",
    )
