"""A PyTorch reading of Darknet networks: the ``.cfg`` format, the ``.weights`` format and the
layers YOLOv3, YOLOv3-tiny and YOLOv4(-tiny) use.

Written from the format as documented by Darknet (pjreddie/darknet, AlexeyAB/darknet) and checked
against OpenCV's independent reader (``cv2.dnn.readNetFromDarknet``) in the tests. Supported:
``[convolutional]`` (with or without batch norm, groups; activations leaky, linear, relu,
logistic, tanh, mish, swish), ``[maxpool]``, ``[upsample]``, ``[route]`` (``groups`` /
``group_id`` included), ``[shortcut]`` (plain additions) and ``[yolo]`` (``scale_x_y``). Anything
else is a clear error naming the section.

Batch norm is folded into the convolution at load time with Darknet's own normalisation,
``(x - mean) / (sqrt(var) + 1e-6)`` (pjreddie's ``normalize_cpu``; AlexeyAB's fork uses
``sqrt(var + 1e-5)``: the two differ by well under 1e-3 on these weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("leaky", "linear", "relu", "logistic", "tanh", "mish", "swish")
BN_EPS = 1e-6


@dataclass
class Section:
    kind: str  # "net", "convolutional", ...
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0

    def int(self, key: str, default: int | None = None) -> int:
        return int(self._get(key, default))

    def float(self, key: str, default: float | None = None) -> float:
        return float(self._get(key, default))

    def ints(self, key: str, default: str | None = None) -> list[int]:
        raw = str(self._get(key, default))
        return [int(v) for v in raw.split(",") if v.strip()]

    def str(self, key: str, default: str | None = None) -> str:
        return str(self._get(key, default)).strip()

    def _get(self, key, default):
        if key in self.options:
            return self.options[key]
        if default is None:
            raise ValueError(f"darknet cfg: [{self.kind}] at line {self.line} has no `{key}`")
        return default


def parse_cfg(text: str) -> list[Section]:
    """The sections of a Darknet ``.cfg`` in order (``[net]`` first), comments dropped."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ValueError(f"darknet cfg: malformed section header at line {number}: {raw}")
            sections.append(Section(line[1:-1].strip().lower(), {}, number))
        elif "=" in line:
            if not sections:
                raise ValueError(f"darknet cfg: option before any section at line {number}")
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
        else:
            raise ValueError(f"darknet cfg: cannot read line {number}: {raw}")
    if not sections or sections[0].kind not in ("net", "network"):
        raise ValueError("darknet cfg: the first section must be [net]")
    return sections


def activation(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "leaky":
        return F.leaky_relu(x, 0.1)
    if name == "linear":
        return x
    if name == "relu":
        return F.relu(x)
    if name == "logistic":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "mish":
        return F.mish(x)
    if name == "swish":
        return F.silu(x)
    raise ValueError(f"unsupported darknet activation {name!r} (supported: {ACTIVATIONS})")


@dataclass
class YoloHead:
    """What decoding a ``[yolo]`` layer needs."""

    anchors: list[tuple[float, float]]  # (w, h) in network-input pixels, masked
    classes: int
    scale_x_y: float


class DarknetNet(nn.Module):
    """The network of a ``.cfg``: ``forward(x [B,C,H,W] in [0,1])`` returns the raw maps of
    its ``[yolo]`` layers, ``[B, anchors, 5 + classes, h, w]`` each (see ``decode``)."""

    def __init__(self, sections: list[Section]):
        super().__init__()
        net = sections[0]
        self.width, self.height = net.int("width"), net.int("height")
        self.channels = net.int("channels", 3)
        self.layers = sections[1:]
        self.convs = nn.ModuleDict()
        self.batch_norm: dict[int, bool] = {}
        self.heads: dict[int, YoloHead] = {}
        out_channels: list[int] = []
        channels = self.channels
        for i, s in enumerate(self.layers):
            where = f"[{s.kind}] (layer {i}, cfg line {s.line})"
            if s.kind == "convolutional":
                size, stride = s.int("size", 1), s.int("stride", 1)
                if s.int("stride_x", stride) != stride or s.int("stride_y", stride) != stride:
                    raise ValueError(f"darknet: {where}: unequal stride_x/stride_y unsupported")
                if s.int("dilation", 1) != 1:
                    raise ValueError(f"darknet: {where}: dilation is not supported")
                padding = size // 2 if s.int("pad", 0) else s.int("padding", 0)
                groups = s.int("groups", 1)
                activation_name = s.str("activation", "logistic")
                if activation_name not in ACTIVATIONS:
                    raise ValueError(f"darknet: {where}: unsupported activation {activation_name}")
                self.convs[str(i)] = nn.Conv2d(
                    channels, s.int("filters"), size, stride, padding, groups=groups, bias=True
                )
                self.batch_norm[i] = bool(s.int("batch_normalize", 0))
                channels = s.int("filters")
            elif s.kind == "maxpool":
                if s.int("maxpool_depth", 0):
                    raise ValueError(f"darknet: {where}: maxpool_depth is not supported")
            elif s.kind == "upsample":
                if s.int("stride", 2) < 1 or s.float("scale", 1.0) != 1.0:
                    raise ValueError(
                        f"darknet: {where}: only plain nearest upsampling is supported"
                    )
            elif s.kind == "route":
                sources = [self._absolute(i, v, where) for v in s.ints("layers")]
                groups = s.int("groups", 1)
                channels = sum(out_channels[j] for j in sources) // groups
            elif s.kind == "shortcut":
                source = self._absolute(i, s.int("from"), where)
                if s.str("weights_type", "none") != "none" or s.str("activation", "linear") != (
                    "linear"
                ):
                    raise ValueError(f"darknet: {where}: only plain linear shortcuts are supported")
                if out_channels[source] != channels:
                    raise ValueError(f"darknet: {where}: adds {out_channels[source]} to {channels}")
            elif s.kind == "yolo":
                if s.int("new_coords", 0):
                    raise ValueError(f"darknet: {where}: new_coords=1 is not supported")
                pairs = s.ints("anchors")
                anchors = list(zip(pairs[0::2], pairs[1::2], strict=True))
                mask = s.ints("mask", ",".join(str(k) for k in range(len(anchors))))
                classes = s.int("classes", 20)
                if channels != len(mask) * (5 + classes):
                    raise ValueError(
                        f"darknet: {where}: expects {len(mask) * (5 + classes)} input channels "
                        f"({len(mask)} anchors x (5 + {classes} classes)), gets {channels}"
                    )
                self.heads[i] = YoloHead(
                    [(float(anchors[k][0]), float(anchors[k][1])) for k in mask],
                    classes,
                    s.float("scale_x_y", 1.0),
                )
            else:
                raise ValueError(f"darknet: unsupported layer {where}")
            out_channels.append(channels)
        if not self.heads:
            raise ValueError("darknet cfg has no [yolo] layer: not a detector this reader knows")
        classes = {h.classes for h in self.heads.values()}
        if len(classes) != 1:
            raise ValueError(f"darknet: [yolo] layers disagree on classes: {sorted(classes)}")
        self.classes = classes.pop()

    @staticmethod
    def _absolute(i: int, index: int, where: str) -> int:
        j = i + index if index < 0 else index
        if not 0 <= j < i:
            raise ValueError(f"darknet: {where}: refers to layer {index}, not an earlier layer")
        return j

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs: list[torch.Tensor] = []
        heads: list[torch.Tensor] = []
        for i, s in enumerate(self.layers):
            if s.kind == "convolutional":
                x = activation(s.str("activation", "logistic"), self.convs[str(i)](x))
            elif s.kind == "maxpool":
                x = _maxpool(x, s)
            elif s.kind == "upsample":
                x = F.interpolate(x, scale_factor=s.int("stride", 2), mode="nearest")
            elif s.kind == "route":
                groups, group_id = s.int("groups", 1), s.int("group_id", 0)
                parts = []
                for v in s.ints("layers"):
                    y = outputs[i + v if v < 0 else v]
                    n = y.shape[1] // groups
                    parts.append(y[:, group_id * n : (group_id + 1) * n])
                x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
            elif s.kind == "shortcut":
                x = x + outputs[self._absolute(i, s.int("from"), "")]
            elif s.kind == "yolo":
                b, _, h, w = x.shape
                head = self.heads[i]
                heads.append(x.view(b, len(head.anchors), 5 + head.classes, h, w))
            outputs.append(x)
        return heads


def _maxpool(x: torch.Tensor, s: Section) -> torch.Tensor:
    """Darknet's max pool: output ``(n + padding - size) // stride + 1`` with ``padding``
    (default ``size - 1``) split ``padding // 2`` before and the rest after, padded cells
    never winning."""
    size = s.int("size", s.int("stride", 1))
    stride = s.int("stride", 1)
    padding = s.int("padding", size - 1)
    before = padding // 2
    h, w = x.shape[-2:]
    after_h = ((h + padding - size) // stride) * stride + size - h - before
    after_w = ((w + padding - size) // stride) * stride + size - w - before
    x = F.pad(x, (before, max(after_w, 0), before, max(after_h, 0)), value=float("-inf"))
    return F.max_pool2d(x, size, stride)


def load_weights(net: DarknetNet, path: str | Path) -> dict[str, int]:
    """Read a ``.weights`` file into ``net`` (batch norm folded); every value must be used.

    Layout: int32 major, minor, revision; images seen (uint64 from version 0.2 on, else
    uint32); then per ``[convolutional]`` in order: biases, and with batch norm scales, rolling
    means and rolling variances (``filters`` float32 each), then the kernel
    (``filters x in/groups x size x size``). Returns the header and the float count."""
    data = Path(path).read_bytes()
    major, minor, revision = np.frombuffer(data, dtype="<i4", count=3)
    if major > 1000 or minor > 1000:
        raise ValueError(f"{path}: transposed (major/minor > 1000) weights are not supported")
    header = 12 + (8 if major * 10 + minor >= 2 else 4)
    if (len(data) - header) % 4:
        raise ValueError(f"{path}: {len(data) - header} bytes after the header, not float32s")
    values = np.frombuffer(data, dtype="<f4", offset=header)
    offset = 0

    def take(n: int) -> torch.Tensor:
        nonlocal offset
        if offset + n > values.size:
            raise ValueError(
                f"{path} holds {values.size} weights but the cfg needs more (at {offset} + {n}): "
                "cfg and weights do not belong together"
            )
        out = torch.from_numpy(values[offset : offset + n].copy())
        offset += n
        return out

    with torch.no_grad():
        for key, conv in net.convs.items():
            n = conv.out_channels
            bias = take(n)
            if net.batch_norm[int(key)]:
                scale, mean, var = take(n), take(n), take(n)
                factor = scale / (var.sqrt() + BN_EPS)
                bias = bias - mean * factor
            else:
                factor = torch.ones(n)
            kernel = take(conv.weight.numel()).view_as(conv.weight)
            conv.weight.copy_(kernel * factor.view(-1, 1, 1, 1))
            conv.bias.copy_(bias)
    if offset != values.size:
        raise ValueError(
            f"{path}: {values.size - offset} of {values.size} weights left unread: "
            "cfg and weights do not belong together"
        )
    return {"major": int(major), "minor": int(minor), "revision": int(revision), "floats": offset}


def decode(net: DarknetNet, maps: list[torch.Tensor]) -> torch.Tensor:
    """``[B, N, 5 + classes]`` rows ``cx, cy, w, h`` (fractions of the network input),
    objectness, and per class ``objectness * p(class)``; rows ordered per layer by cell row,
    cell column, anchor (OpenCV's order)."""
    out = []
    for head, raw in zip(net.heads.values(), maps, strict=True):
        b, a, _, h, w = raw.shape
        raw = raw.permute(0, 3, 4, 1, 2)  # B, h, w, A, 5 + C
        ys, xs = torch.meshgrid(
            torch.arange(h, device=raw.device, dtype=raw.dtype),
            torch.arange(w, device=raw.device, dtype=raw.dtype),
            indexing="ij",
        )
        anchors = torch.tensor(head.anchors, device=raw.device, dtype=raw.dtype)
        s = head.scale_x_y
        cx = (torch.sigmoid(raw[..., 0]) * s - (s - 1) / 2 + xs[..., None]) / w
        cy = (torch.sigmoid(raw[..., 1]) * s - (s - 1) / 2 + ys[..., None]) / h
        bw = torch.exp(raw[..., 2]) * anchors[:, 0] / net.width
        bh = torch.exp(raw[..., 3]) * anchors[:, 1] / net.height
        objectness = torch.sigmoid(raw[..., 4])
        scores = objectness[..., None] * torch.sigmoid(raw[..., 5:])
        rows = torch.cat([torch.stack([cx, cy, bw, bh, objectness], -1), scores], -1)
        out.append(rows.reshape(b, h * w * a, -1))
    return torch.cat(out, dim=1)


def build(cfg: str | Path, weights: str | Path | None = None) -> DarknetNet:
    """A network from a ``.cfg`` file, with the ``.weights`` loaded when given; eval mode."""
    net = DarknetNet(parse_cfg(Path(cfg).read_text()))
    if weights is not None:
        load_weights(net, weights)
    return net.eval()
