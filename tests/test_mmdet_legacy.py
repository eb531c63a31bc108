"""GEFU's face detector: a YOLOv3 checkpoint in the layout of the MAET-era mmdet 2.7 fork
(mmcv-full 1.1.6, ``gefu_eval/detection/mmdet``) loads into MMDetection 3.x through the
suite's loader and gives the old code's detections.

The old code cannot be installed here (py3.7 / torch 1.7 / mmcv-full 1.1.6), so the reference
is a hand-traced forward of the fork's architecture and post-processing, written from its
source: ``backbones/darknet.py``, ``necks/yolo_neck.py``, ``dense_heads/yolo_head.py``
(``_get_bboxes_single``), ``core/anchor/anchor_generator.py`` (``YOLOAnchorGenerator``),
``core/bbox/coder/yolo_bbox_coder.py`` and ``core/post_processing/bbox_nms.py``. The state dict
is built from the fork's module names, not from the 3.x model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import REPO

pytest.importorskip("mmdet")
from gefu.core.strict import read_yaml_mapping  # noqa: E402
from gefu.tasks.mmdet_checkpoint import convert_state_dict, read_checkpoint  # noqa: E402
from gefu.tasks.mmdet_model import MMDetDetector  # noqa: E402

STAGES = ((1, 32, 64), (2, 64, 128), (8, 128, 256), (8, 256, 512), (4, 512, 1024))
NECK_IN, NECK_OUT, HEAD_OUT = (1024, 512, 256), (512, 256, 128), (1024, 512, 256)
STRIDES = (32, 16, 8)
ANCHORS = (
    ((58, 45), (78, 99), (180, 163)),
    ((15, 31), (32, 25), (29, 59)),
    ((5, 8), (8, 15), (23, 13)),
)  # yolov3_darkface.py


def old_layout(num_classes=1) -> dict[str, tuple]:
    """Key -> shape of the fork's ``YOLOV3`` state dict."""
    keys: dict[str, tuple] = {}

    def conv_module(name, cin, cout, k):  # mmcv ConvModule: conv (no bias) + bn + LeakyReLU
        keys[f"{name}.conv.weight"] = (cout, cin, k, k)
        for part in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{name}.bn.{part}"] = (cout,)
        keys[f"{name}.bn.num_batches_tracked"] = ()

    conv_module("backbone.conv1", 3, 32, 3)
    for i, (repeat, cin, cout) in enumerate(STAGES, 1):
        conv_module(f"backbone.conv_res_block{i}.conv", cin, cout, 3)
        for j in range(repeat):
            conv_module(f"backbone.conv_res_block{i}.res{j}.conv1", cout, cout // 2, 1)
            conv_module(f"backbone.conv_res_block{i}.res{j}.conv2", cout // 2, cout, 3)
    for i in range(3):
        cin, c = (NECK_IN[0] if i == 0 else NECK_IN[i] + NECK_OUT[i]), NECK_OUT[i]
        if i:
            conv_module(f"neck.conv{i}", NECK_IN[i], c, 1)
        for j, (a, b, k) in enumerate(
            ((cin, c, 1), (c, 2 * c, 3), (2 * c, c, 1), (c, 2 * c, 3), (2 * c, c, 1)), 1
        ):
            conv_module(f"neck.detect{i + 1}.conv{j}", a, b, k)
        conv_module(f"bbox_head.convs_bridge.{i}", NECK_OUT[i], HEAD_OUT[i], 3)
        keys[f"bbox_head.convs_pred.{i}.weight"] = (3 * (5 + num_classes), HEAD_OUT[i], 1, 1)
        keys[f"bbox_head.convs_pred.{i}.bias"] = (3 * (5 + num_classes),)
    return keys


def random_old_state(seed=0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in old_layout().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(100)
        elif key.endswith("conv.weight") or ".convs_pred." in key and key.endswith("weight"):
            fan_in = math.prod(shape[1:])
            std = 0.01 if ".convs_pred." in key else 0.7 * math.sqrt(2 / fan_in)
            state[key] = torch.randn(shape, generator=g) * std
        elif key.endswith("running_var") or key.endswith("bn.weight"):
            state[key] = 0.8 + 0.4 * torch.rand(shape, generator=g)
        else:  # bn bias, running_mean, convs_pred bias
            state[key] = 0.1 * torch.randn(shape, generator=g)
    return state


def old_forward(s, x):
    """The fork's Darknet-53 -> YOLOV3Neck -> YOLOV3Head.forward, in plain torch."""

    def cm(name, x, k):
        x = F.conv2d(
            x, s[f"{name}.conv.weight"], stride=2 if k == "s2" else 1, padding=0 if k == 1 else 1
        )
        x = F.batch_norm(
            x,
            s[f"{name}.bn.running_mean"],
            s[f"{name}.bn.running_var"],
            s[f"{name}.bn.weight"],
            s[f"{name}.bn.bias"],
            False,
            0.0,
            1e-5,
        )
        return F.leaky_relu(x, 0.1)

    x, feats = cm("backbone.conv1", x, 3), []
    for i, (repeat, _, _) in enumerate(STAGES, 1):
        x = cm(f"backbone.conv_res_block{i}.conv", x, "s2")
        for j in range(repeat):
            r = f"backbone.conv_res_block{i}.res{j}"
            x = cm(f"{r}.conv2", cm(f"{r}.conv1", x, 1), 3) + x
        if i >= 3:  # out_indices (3, 4, 5) of cr_blocks = [conv1, block1, ..., block5]
            feats.append(x)

    def detect(name, x):
        for j, k in enumerate((1, 3, 1, 3, 1), 1):
            x = cm(f"{name}.conv{j}", x, k)
        return x

    outs = [detect("neck.detect1", feats[-1])]
    for i, low in enumerate(reversed(feats[:-1]), 1):
        up = F.interpolate(cm(f"neck.conv{i}", outs[-1], 1), scale_factor=2)
        outs.append(detect(f"neck.detect{i + 1}", torch.cat((up, low), 1)))
    return [
        F.conv2d(
            cm(f"bbox_head.convs_bridge.{i}", o, 3),
            s[f"bbox_head.convs_pred.{i}.weight"],
            s[f"bbox_head.convs_pred.{i}.bias"],
        )
        for i, o in enumerate(outs)
    ]


def old_get_bboxes(maps, cfg):
    """The fork's ``YOLOV3Head._get_bboxes_single`` + ``multiclass_nms`` for one image
    (scale factor 1, one class): per level conf filter and top ``nms_pre`` by confidence, the
    class score over ``score_thr``, score = class x confidence, NMS, ``max_per_img``."""
    from torchvision.ops import nms

    boxes, cls, conf = [], [], []
    for pred, stride, sizes in zip(maps, STRIDES, ANCHORS, strict=True):
        h, w = pred.shape[-2:]
        p = pred[0].permute(1, 2, 0).reshape(-1, 6)
        base = torch.tensor(
            [
                [stride / 2 - bw / 2, stride / 2 - bh / 2, stride / 2 + bw / 2, stride / 2 + bh / 2]
                for bw, bh in sizes
            ]
        )
        ys, xs = torch.meshgrid(torch.arange(h) * stride, torch.arange(w) * stride, indexing="ij")
        shifts = torch.stack([xs, ys, xs, ys], -1).reshape(-1, 1, 4).float()
        anchors = (base[None] + shifts).reshape(-1, 4)
        cx, cy = (anchors[:, 0] + anchors[:, 2]) / 2, (anchors[:, 1] + anchors[:, 3]) / 2
        aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
        x = (torch.sigmoid(p[:, 0]) - 0.5) * stride + cx
        y = (torch.sigmoid(p[:, 1]) - 0.5) * stride + cy
        bw, bh = torch.exp(p[:, 2]) * aw, torch.exp(p[:, 3]) * ah
        b = torch.stack([x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2], -1)
        c, k = torch.sigmoid(p[:, 4]), torch.sigmoid(p[:, 5])
        keep = c >= cfg["conf_thr"]
        b, c, k = b[keep], c[keep], k[keep]
        if 0 < cfg["nms_pre"] < len(c):
            top = c.topk(cfg["nms_pre"]).indices
            b, c, k = b[top], c[top], k[top]
        boxes.append(b), conf.append(c), cls.append(k)
    b, c, k = torch.cat(boxes), torch.cat(conf), torch.cat(cls)
    valid = k > cfg["score_thr"]
    b, scores = b[valid], (k * c)[valid]
    kept = nms(b, scores, cfg["iou"])[: cfg["max_per_img"]]
    return b[kept].numpy(), scores[kept].numpy()


def gefu_face_options(size=(96, 64), nms_pre=40):
    """The shipped config's model at the test image's size; ``nms_pre`` so small that the 2.x
    per-level truncation matters (the levels have 18, 72 and 288 boxes)."""
    raw = read_yaml_mapping((REPO / "configs/gefu/darkface_detection.yaml").read_text(), "cfg")
    params = raw["evaluations"][0]["params"]["model"]
    assert (
        params["family"] == "mmdet"
        and params["cfg_options"]["model.bbox_head.type"] == "YOLOV3HeadMMDet2"
    )
    scale = "test_dataloader.dataset.pipeline.1.scale"
    assert params["cfg_options"][scale] == [720, 720]  # GEFU's test scale
    options = {scale: list(size), "model.test_cfg.nms_pre": nms_pre}
    return params["config"], {**params["cfg_options"], **options}


def test_old_fork_checkpoint_gives_the_old_codes_detections(tmp_path):
    state = random_old_state()
    meta = {
        "mmdet_version": "2.7.0+3f2a1c9",
        "mmcv_version": "1.1.6",
        "CLASSES": ["Face"],
        "config": "model = dict(type='YOLOV3', ...)",
        "epoch": 300,
        "iter": 120000,
        "time": "Tue Mar  2 10:00:00 2021",
        "env_info": "sys.platform: linux",
        "seed": None,
        "exp_name": "yolov3_face.py",
        "best_map": np.float64(0.61),
    }
    path = tmp_path / "yolov3.pth"
    torch.save(
        {
            "meta": meta,
            "state_dict": state,
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0]}]},
        },
        path,
    )

    config, options = gefu_face_options()
    det = MMDetDetector(config, path, "cpu", options)
    assert det.classes == ("Face",)
    for key, value in det.model.state_dict().items():
        assert torch.equal(value, state[key]), key

    image = torch.rand(1, 3, 64, 96)  # the test scale: no resize, no padding
    with torch.no_grad():
        ours = det.model.bbox_head(det.model.extract_feat(image))[0]
        theirs = old_forward(state, image)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))

    pred = det.predict(image)[0]
    cfg = {"conf_thr": 0.005, "nms_pre": 40, "score_thr": 0.05, "iou": 0.55, "max_per_img": 100}
    boxes, scores = old_get_bboxes(theirs, cfg)
    assert 0 < len(scores) <= 100 and len(pred["scores"]) == len(scores)
    np.testing.assert_allclose(pred["scores"], scores, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pred["boxes"], boxes, rtol=1e-4, atol=1e-3)
    assert set(pred["labels"].tolist()) == {0}


def test_layouts_are_detected_from_the_keys():
    state = random_old_state()
    expected = set(state)
    maet = {f"module.{k}": v for k, v in state.items()} | {"module.aet.conv1.weight": 0}
    mapped, dropped = convert_state_dict(maet, expected, {"mmdet_version": "2.7.0"})
    assert set(mapped) == expected and dropped == ["aet.conv1.weight"]
    rpn = {k.replace("bbox_head.", "rpn_head."): v for k, v in state.items()}
    assert set(convert_state_dict(rpn, expected)[0]) == expected
    with pytest.raises(ValueError, match="upgrade it to 2.x"):
        convert_state_dict(state, expected, {"mmdet_version": "1.0rc0+d3ca926"})
    with pytest.raises(ValueError, match="1 missing \\(bbox_head.convs_pred.2.bias\\)"):
        convert_state_dict(
            {k: v for k, v in state.items() if k != "bbox_head.convs_pred.2.bias"}, expected
        )
    with pytest.raises(ValueError, match="1 unexpected \\(neck.extra.weight\\)"):
        convert_state_dict({**state, "neck.extra.weight": 0}, expected)


def test_bare_state_dicts_and_unsafe_pickles(tmp_path):
    torch.save({"bbox_head.convs_pred.0.bias": torch.zeros(18)}, tmp_path / "bare.pth")
    assert read_checkpoint(tmp_path / "bare.pth")["meta"] == {}
    torch.save({"state_dict": {}, "meta": {"hook": print}}, tmp_path / "unsafe.pth")
    with pytest.raises(ValueError, match="weights_only"):
        read_checkpoint(tmp_path / "unsafe.pth")
