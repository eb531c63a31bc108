"""The shape of the downstream evaluations: one frozen-model interface for every family, one
task class per kind, ``*_consistency`` as specialisations, one reference cache."""

from __future__ import annotations

import importlib
import inspect

import pytest
import torch

from gefu.core.params import constructor_params
from gefu.datasets.base import Sample
from gefu.tasks import TASKS, create_task
from gefu.tasks.downstream import DownstreamTask, ReferenceCache, reference_hash
from gefu.tasks.frozen import FrozenModel

KINDS = {  # registered name of the kind -> its consistency specialisation
    "classification": "classification_consistency",
    "detection": "detection_consistency",
    "face_detection": "face_consistency",
    "segmentation": "segmentation_consistency",
}
FAMILIES = {  # adapter module -> its FrozenModel
    "gefu.tasks.classifiers": "Classifier",
    "gefu.tasks.mmdet_model": "MMDetModel",
    "gefu.tasks.mmseg_model": "MMSegModel",
    "gefu.tasks.refinenet_model": "RefineNetModel",
    "gefu.tasks.darknet_model": "DarknetModel",
    "gefu.tasks.mtcnn_model": "MTCNNModel",
}


@pytest.mark.parametrize(("kind", "name"), KINDS.items())
def test_consistency_names_are_specialisations(kind, name):
    base, special = TASKS.get(kind), TASKS.get(name)
    assert issubclass(special, base) and special.__bases__ == (base,)
    assert issubclass(base, DownstreamTask)
    assert "__init__" not in vars(special)  # no constructor of its own
    assert set(vars(special)) <= {"target", "__module__", "__doc__", "registry_name"}
    assert (base.target, special.target) == ("labels", "reference")
    assert constructor_params(special) == constructor_params(base)  # the same config keys


def test_one_class_per_task_kind():
    downstream = {n for n in TASKS.names() if issubclass(TASKS.get(n), DownstreamTask)}
    downstream -= {"finetune_detection"}  # not frozen: a detector trained per row (finetune.py)
    assert downstream == set(KINDS) | set(KINDS.values())
    assert len({TASKS.get(n).__init__ for n in downstream}) == len(KINDS)


@pytest.mark.parametrize(("module", "name"), FAMILIES.items())
def test_every_family_implements_the_one_interface(module, name):
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, FrozenModel)
    for method in ("spec", "build"):  # what each family must say for itself
        assert getattr(cls, method) is not getattr(FrozenModel, method), method
    for method in ("unavailable", "load"):
        assert inspect.signature(getattr(cls, method)) == inspect.signature(
            getattr(FrozenModel, method)
        )


def test_tasks_hold_a_frozen_model_and_say_why_not_through_it(tmp_path):
    tasks = [
        create_task("classification", checkpoint=str(tmp_path / "no.pt")),
        create_task("classification_consistency"),
        create_task("face_consistency"),
        create_task("detection_consistency", model={"family": "darknet"}),
    ]
    for task in tasks:
        assert isinstance(task.model, FrozenModel)
        why = task.model.unavailable()
        assert why is None or isinstance(why, str)
        assert task.metrics()[0].unavailable == why
        assert task.spec()["model"] == task.model.spec()
        assert task.spec()["target"] == ("reference" if task.consistency else "labels")
    assert "checkpoint not found" in tasks[0].model.unavailable()


def test_options_of_the_other_target_are_rejected():
    with pytest.raises(ValueError, match="class_map only apply to target .labels"):
        create_task("classification_consistency", class_map={"Cat": 3})
    with pytest.raises(ValueError, match="ref_score_thr only apply to target .reference"):
        create_task("face_detection", ref_score_thr=0.5)
    assert create_task("face_consistency").ref_score_thr == 0.9
    assert create_task("detection_consistency", model={"family": "darknet"}).ref_score_thr == 0.5
    assert create_task("classification_consistency").model.arch == "efficientnet_lite0"
    assert create_task("classification", checkpoint="x.pt").model.arch == "gefu_codan_resnet18"


def test_reference_cache_predicts_each_reference_once_by_content():
    calls = []

    def predict(batch):
        calls.append(tuple(batch.shape))
        return [float(x.sum()) for x in batch]

    ones, twos, wide = torch.ones(3, 2, 2), torch.full((3, 2, 2), 2.0), torch.ones(3, 2, 4)
    samples = [
        Sample("a", None, reference=ones),
        Sample("b", None, reference=twos),
        Sample("c", None, reference=wide),
    ]
    cache = ReferenceCache()
    assert cache.get(samples, "cpu", predict) == [12.0, 24.0, 24.0]
    assert calls == [(2, 3, 2, 2), (1, 3, 2, 4)]  # grouped by size
    assert cache.get(samples[:2], "cpu", predict) == [12.0, 24.0] and len(calls) == 2
    changed = [Sample("a", None, reference=twos)]  # same name, other pixels: predicted again
    assert cache.get(changed, "cpu", predict) == [24.0] and len(cache) == 4
    assert reference_hash(ones) != reference_hash(ones.double())
    with pytest.raises(ValueError, match="no reference"):
        cache.get([Sample("d", None)], "cpu", predict)


def test_the_registry_names_each_family_once_with_what_it_serves():
    from gefu.tasks import FAMILIES as REGISTRY
    from gefu.tasks.frozen import KINDS as SERVED

    registered = {n: REGISTRY.get(n) for n in REGISTRY.names() if REGISTRY.origin(n) == "gefu"}
    assert {f"{c.__module__}:{c.__name__}" for c in registered.values()} == {
        f"{m}:{c}"
        for m, c in FAMILIES.items()
        if c != "Classifier"  # built by classification
    }
    for name, cls in registered.items():
        assert cls.family == name  # the name in its spec is its registered name
        assert cls.serves and set(cls.serves) <= set(SERVED), name
    serving = {kind: [n for n, c in registered.items() if kind in c.serves] for kind in SERVED}
    assert serving["detector"] == ["darknet", "mmdet"]
    assert serving["face_detector"] == ["darknet", "mmdet", "mtcnn"]
    assert serving["segmenter"] == ["mmseg", "refinenet"]


def test_the_family_code_is_in_the_evaluation_key():
    """The task reaches its family through the registry, not an import: ``code_dependencies``
    puts the family's source in the key."""
    from gefu.core.hashing import code_hash

    task = create_task("face_consistency")
    assert code_hash(type(task), *task.code_dependencies()) != code_hash(type(task))


def test_the_flat_spellings_are_gone_with_a_message_saying_where_they_went():
    from gefu.bench.config import validate_config
    from gefu.core.errors import ConfigError

    base = {"name": "t", "enhancers": [{"name": "identity"}], "datasets": [{"name": "demo"}]}
    old = {"detector": "darknet", "darknet": {"input_size": 192}, "metric": "coco"}
    with pytest.raises(ConfigError) as err:
        validate_config({**base, "evaluations": [{"name": "detection_consistency", "params": old}]})
    message = str(err.value)
    assert "params.detector: moved into the nested model spec" in message
    assert "`detector: X` is `model: {family: X}`" in message
    assert "params.darknet: moved" in message and "{family: darknet, input_size: 192}" in message
    new = {"model": {"family": "darknet", "input_size": 192}, "metric": "coco"}
    spec = {"name": "detection_consistency", "params": new}
    assert validate_config({**base, "evaluations": [spec]}).evaluations[0].params == new
