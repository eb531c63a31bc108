"""The RefineNet-R101 family (GEFU's segmentation protocol): architecture size, the released
checkpoint layouts, the evaluator's multi-scale inference re-stated step by step, GEFU's IoU
(``iouCalc``) re-stated on a confusion matrix, and a random-weights model end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import write_photo
from gefu.tasks.frozen import ModelUnavailable
from gefu.tasks.refinenet_model import (
    RefineNetModel,
    RefineNetSegmenter,
    build_refinenet,
    map_keys,
    read_state_dict,
)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(1)
    model = build_refinenet(20).eval()
    with torch.no_grad():  # non-trivial BN statistics, so a wrong mapping shows
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


def conv3(cin, cout, bias=False):
    return 9 * cin * cout + (cout if bias else 0)


def test_parameter_count_is_resnet101_plus_the_refinenet_decoder(net):
    import torchvision

    backbone = torchvision.models.resnet101(weights=None)
    fc = sum(p.numel() for p in backbone.fc.parameters())
    backbone_params = sum(p.numel() for p in backbone.parameters()) - fc
    assert backbone_params == 42_500_160  # ResNet-101's 44,549,160 without its 1000-way fc

    def rcu(c, blocks):
        return blocks * (conv3(c, c, bias=True) + conv3(c, c))

    decoder = conv3(2048, 512) + rcu(512, 2) + 4 * conv3(512, 512) + rcu(512, 3)
    decoder += conv3(512, 256)
    for stage, cin in ((2, 1024), (3, 512), (4, 256)):
        decoder += conv3(cin, 256) + rcu(256, 2) + conv3(256, 256) + 4 * conv3(256, 256)
        decoder += rcu(256, 3) + (conv3(256, 256) if stage < 4 else 0)
    decoder += conv3(256, 20, bias=True)
    assert sum(p.numel() for p in net.parameters()) == backbone_params + decoder
    keys = {k.removeprefix("resnet.") for k in net.state_dict() if k.startswith("resnet.")}
    assert keys == {k for k in backbone.state_dict() if not k.startswith("fc.")}


def test_the_released_layouts_load_and_others_are_refused(net, tmp_path):
    state = net.state_dict()
    expected = set(state)
    ciconv = {f"module.{k}": v for k, v in state.items()}  # DataParallel + CIConv's classifier
    ciconv |= {"module.resnet.fc.weight": torch.zeros(1000, 2048), "module.resnet.fc.bias": 0}
    path = tmp_path / "best_weights.pth.tar"
    torch.save({"epoch": 7, "model_state_dict": ciconv}, path)
    mapped, dropped = map_keys(read_state_dict(path), expected)
    assert dropped == ["resnet.fc.bias", "resnet.fc.weight"] and set(mapped) == expected

    byol = {**state, "encoder_k.conv1.weight": 0, "head_q.mlp.0.weight": 0, "pred.w": 0}
    assert map_keys(byol, expected)[1] == [
        "encoder_k.conv1.weight",
        "head_q.mlp.0.weight",
        "pred.w",
    ]  # ZeroShotDayNightDA's training parts
    with pytest.raises(ValueError, match="1 missing \\(clf_conv.bias\\)"):
        map_keys({k: v for k, v in state.items() if k != "clf_conv.bias"}, expected)
    with pytest.raises(ValueError, match="1 unexpected \\(decode_head.conv_seg.weight\\)"):
        map_keys({**state, "decode_head.conv_seg.weight": 0}, expected)
    with pytest.raises(ValueError, match="colour-invariant"):
        map_keys({**state, "resnet.ciconv.scale": 0}, expected)

    loaded = RefineNetModel(checkpoint=path).build("cpu")  # the family's own loader
    assert loaded.outputs == 20 and loaded.dropped == ["resnet.fc.bias", "resnet.fc.weight"]
    for k, v in loaded.net.state_dict().items():
        assert torch.equal(v, state[k]), k
    torch.save({"model_state_dict": {"clf_conv.weight": state["clf_conv.weight"]}}, path)
    with pytest.raises(ModelUnavailable, match="missing"):
        RefineNetModel(checkpoint=path).build("cpu")


def reference_logits(net, image, size, scales, flip, normalize):
    """gefu_eval's steps for one image: 8-bit file, Lanczos to ``size``, Lanczos per scale,
    to_tensor (normalised only if asked), forward, bilinear (align_corners) to ``size``, sum."""
    import torchvision.transforms.functional as TF

    h, w = size
    pil = TF.to_pil_image((image.clamp(0, 1) * 255 + 0.5).floor().byte())
    base = TF.resize(pil, [h, w], interpolation=TF.InterpolationMode.LANCZOS)
    scores = torch.zeros(1, 20, h, w)
    with torch.no_grad():
        for s in scales:
            x = TF.to_tensor(base.resize((int(w * s), int(h * s)), Image.LANCZOS))
            if normalize:
                x = TF.normalize(x, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
            runs = [net(x[None])]
            if flip:
                runs.append(torch.flip(net(torch.flip(x[None], dims=(3,))), dims=(3,)))
            for out in runs:
                scores += F.interpolate(out, size=(h, w), mode="bilinear", align_corners=True)
    return scores


@pytest.mark.parametrize(("flip", "normalize"), [(False, False), (True, True)])
def test_multiscale_inference_matches_the_evaluators_steps(net, flip, normalize):
    size, scales = (32, 48), (0.5, 1.0)
    seg = RefineNetSegmenter(None, "cpu", size, scales, flip, normalize)
    seg.net = net
    images = torch.rand(2, 3, 29, 45)
    ours = seg.logits(images)
    ref = torch.cat([reference_logits(net, im, size, scales, flip, normalize) for im in images])
    assert ours.shape == (2, 20, 32, 48)
    tol = 1e-5 * float(ref.abs().max())  # random ResNet-101 logits reach hundreds
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=tol)
    top2 = ref.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 10 * tol  # the argmax is not a float tie
    assert clear.float().mean() > 0.99
    assert torch.equal(seg.predict(images)[clear], ref.argmax(1)[clear])


def test_label_masks_are_resized_as_the_evaluator_does():
    import torchvision.transforms.functional as TF

    seg = RefineNetSegmenter.__new__(RefineNetSegmenter)
    seg.size = (36, 64)
    label = torch.from_numpy(np.random.default_rng(0).integers(0, 19, (72, 128)))
    label[:5] = 255
    pil = Image.fromarray(label.numpy().astype(np.uint8))
    theirs = np.asarray(TF.resize(pil, [36, 64], interpolation=TF.InterpolationMode.NEAREST))
    assert torch.equal(seg.fit_label(label), torch.from_numpy(theirs.astype(np.int64)))


def test_options_are_checked():
    from gefu.tasks import create_task

    with pytest.raises(ValueError, match="model.scale: unknown option of model family 'refi"):
        create_task("segmentation", model={"family": "refinenet", "scale": [1]})
    with pytest.raises(ValueError, match="scales must be positive"):
        RefineNetModel(scales=[])
    spec = RefineNetModel(allow_random_weights=True).spec()
    assert spec["size"] == [360, 640] and spec["scales"] == [0.5, 0.75, 1.0]
    assert spec["flip"] is False and spec["normalize"] is False and spec["random_weights"]
    assert "no checkpoint" in RefineNetModel().unavailable()


# -- scoring: needs mmseg (IoUMetric) ------------------------------------------------------------
def gefu_iou_calc(preds, labels, n=19, void=19):
    """GEFU's / CIConv's ``iouCalc`` re-stated: a confusion matrix over 20 ids (255 -> void),
    IoU per class with void rows left out of false positives, NaN -> 0, mean over 19."""
    conf = np.zeros((n + 1, n + 1), np.int64)
    for p, g in zip(preds, labels, strict=True):
        g = np.where(g == 255, void, g)
        np.add.at(conf, (g.ravel(), p.ravel()), 1)
    ious = []
    for c in range(n):
        tp = conf[c, c]
        fn = conf[c, :].sum() - tp
        fp = conf[[k for k in range(n) if k != c], c].sum()
        ious.append(tp / (tp + fp + fn) if tp + fp + fn else 0.0)
    return 100 * float(np.mean(ious))


def test_absent_classes_zero_matches_gefus_iou_calc():
    pytest.importorskip("mmseg")
    from gefu.datasets.base import Sample
    from gefu.tasks import create_task

    rng = np.random.default_rng(3)
    labels = [rng.integers(0, 12, (6, 9)) for _ in range(3)]  # classes 12-18 never appear
    for g in labels:
        g[0, :3] = 255
    preds = [rng.integers(0, 12, (6, 9)) for _ in range(3)]
    preds[1][2, :4] = 19  # the void channel won: a miss for those pixels' classes
    preds[0][1, 1] = 14  # a false positive of a class absent from the labels
    task = create_task(
        "segmentation",
        model={"family": "refinenet", "allow_random_weights": True},
        absent_classes="zero",
    )

    class Fixed:
        num_classes = 19

        def __init__(self):
            self.maps = [torch.from_numpy(p) for p in preds]

        def predict(self, images):
            return torch.stack([self.maps.pop(0) for _ in images])

    task.predictor = Fixed()
    records = []
    for g in labels:
        sample = Sample("x.png", torch.zeros(3, 6, 9), target=torch.from_numpy(g))
        records += task.process(torch.zeros(1, 3, 6, 9), [sample])
    assert task.compute(records)["mIoU"] == pytest.approx(gefu_iou_calc(preds, labels))
    task.absent = "skip"  # mmseg's mean leaves the 6 classes absent everywhere out (not 14)
    assert task.compute(records)["mIoU"] == pytest.approx(gefu_iou_calc(preds, labels) * 19 / 13)


def test_random_weights_end_to_end_through_the_runner(tmp_path):
    pytest.importorskip("mmseg")
    from gefu.bench.config import validate_config
    from gefu.bench.runner import Runner
    from gefu.bench.store import Store

    root = tmp_path / "bdd"
    for i in range(2):
        write_photo(root / "images" / "test" / f"n{i}.jpg", (40, 72), seed=i, scale=0.3)
        ids = np.random.default_rng(i).integers(0, 19, (40, 72)).astype(np.uint8)
        ids[:3] = 255
        (root / "labels" / "test").mkdir(parents=True, exist_ok=True)
        Image.fromarray(ids).save(root / "labels" / "test" / f"n{i}.png")
    params = {
        "model": {
            "family": "refinenet",
            "allow_random_weights": True,
            "size": [20, 36],
            "scales": [0.5, 1.0],
        },
        "absent_classes": "zero",
    }
    config = validate_config(
        {
            "name": "seg",
            "output": str(tmp_path / "out"),
            "device": "cpu",
            "batch_size": 2,
            "enhancers": [{"name": "identity"}],
            "datasets": [{"name": "bdd100k_night", "root": str(root)}],
            "evaluations": [
                {
                    "name": "segmentation",
                    "id": "refinenet",
                    "params": params,
                    "protocol": "GEFU ICCV 2025 frozen",
                }
            ],
        }
    )
    outcome = Runner(config, quiet=True).run()
    assert not outcome.failed and len(outcome.computed) == 1
    cell = outcome.computed[0]
    with Store(tmp_path / "out") as store:
        values = {r["metric"]: r["value"] for r in store.cell_metrics(cell.key)}
        assert 0 <= values["mIoU"] <= 100 and store.cell(cell.key)["n_images"] == 2
    assert cell.spec["evaluation"]["protocol"] == "GEFU ICCV 2025 frozen"
    assert cell.spec["evaluation"]["task"]["model"]["family"] == "refinenet"
