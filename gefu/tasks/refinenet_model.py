"""RefineNet-ResNet-101 segmenters (the ``refinenet`` family of ``gefu.tasks.frozen``;
``model: {family: refinenet, ...}`` in the segmentation evaluations): the Cityscapes model
behind GEFU's segmentation protocol (``gefu_eval/segmentation``), whose code descends from CIConv
(Attila94/CIConv, ``experiments/3_segmentation``) and ZeroShotDayNightDA. mmseg-independent:
plain PyTorch on torchvision's ResNet-101.

The network: a light-weight RefineNet decoder (Nekrasov et al.; residual conv units ``RCU``,
chained residual pooling ``CRP``) over ResNet-101's four stages, logits at 1/4 of the input
upsampled bilinearly (``align_corners=True``) to the input size, 20 output channels: the 19
Cityscapes train ids and an untrained "void" channel (id 19) that ``argmax`` may still pick;
such pixels count as misses, as in the evaluator.

Inference, by default exactly ``gefu_eval`` (``utils/helpers.get_test_trans_ms`` and
``utils/routines.eval_evaluate``): the 8-bit image is resized to 360x640 with PIL's Lanczos
filter, that image again to each scale (0.5, 0.75, 1), each scale goes through the network
**without** ImageNet normalisation (the multi-scale path of ``get_test_trans_ms`` leaves it
out; the single-scale path has it), the logits are resized to 360x640 (bilinear,
``align_corners=True``) and summed, and the label map is their argmax at 360x640. The label
mask is resized to the same size with PIL's nearest filter (``fit_label``). ``flip`` adds
horizontally flipped passes: the evaluator has the code but switches it off
(``flip = False``), so it is off here too. CIConv's own single-scale evaluation is
``{size: [512, 1024], scales: [1.0], normalize: true}``.

Checkpoints (``torch.load(weights_only=True)``): the training scripts' ``{"model_state_dict":
...}`` (also a bare state dict or ``{"state_dict": ...}``), keys with DataParallel's
``module.`` prefix or without. Keys the network has no use for, and that the evaluators also
leave unused (``strict=False``), are dropped by name: CIConv's ResNet classifier
(``resnet.fc``) and ZeroShotDayNightDA's BYOL training parts (``encoder_k``, ``head_q``,
``head_k``, ``pred``). Anything else missing or left over is an error naming the keys, so a
checkpoint of another layout cannot load silently half-empty. Colour-invariant variants
(CIConv's ``W``-RefineNet, ``resnet.ciconv.scale``) are not supported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gefu.core.checkpoint import key_mismatch, load_checkpoint
from gefu.tasks.frozen import FrozenModel, ModelUnavailable, checkpoint_hash, versions

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet, as the evaluators use
OUTPUTS = 20  # 19 Cityscapes train ids + void, the evaluators' num_classes
EVAL_CLASSES = 19
DEFAULTS: dict[str, Any] = {  # gefu_eval's segmentation evaluator
    "size": [360, 640],
    "scales": [0.5, 0.75, 1.0],
    "flip": False,
    "normalize": False,
}
UNUSED_PREFIXES = ("resnet.fc.", "encoder_k.", "head_q.", "head_k.", "pred.")
PORT_VERSION = "1"  # bump when a change alters any prediction


# -- the network ---------------------------------------------------------------------------------
def _conv3(cin: int, cout: int, bias: bool = False):
    import torch.nn as nn

    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias)


def _rcu(channels: int, blocks: int):
    """Residual conv units: per block relu-conv(bias)-relu-conv + skip; wrapped in a
    one-element Sequential, as the checkpoints' keys (``<name>.0.<i>_conv``) require."""
    import torch.nn as nn
    import torch.nn.functional as F

    class RCU(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = blocks
            for i in range(1, blocks + 1):
                setattr(self, f"{i}_conv", _conv3(channels, channels, bias=True))
                setattr(self, f"{i}_conv_relu_varout_dimred", _conv3(channels, channels))

        def forward(self, x):
            for i in range(1, self.blocks + 1):
                y = getattr(self, f"{i}_conv")(F.relu(x))
                x = getattr(self, f"{i}_conv_relu_varout_dimred")(F.relu(y)) + x
            return x

    return nn.Sequential(RCU())


def _crp(channels: int, stages: int = 4):
    """Chained residual pooling: 5x5 max-pool then conv, each stage's output added to x."""
    import torch.nn as nn

    class CRP(nn.Module):
        def __init__(self):
            super().__init__()
            self.stages = stages
            self.maxpool = nn.MaxPool2d(5, stride=1, padding=2)
            for i in range(1, stages + 1):
                setattr(self, f"{i}_outvar_dimred", _conv3(channels, channels))

        def forward(self, x):
            path = x
            for i in range(1, self.stages + 1):
                path = getattr(self, f"{i}_outvar_dimred")(self.maxpool(path))
                x = x + path
            return x

    return nn.Sequential(CRP())


def build_refinenet(outputs: int = OUTPUTS):
    """RefineNet-ResNet-101 with ``outputs`` channels, in the checkpoints' module names."""
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision

    def up(x, like):
        return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=True)

    class RefineNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.resnet = torchvision.models.resnet101(weights=None)
            del self.resnet.fc  # the evaluators' backbone has no classifier
            self.do = nn.Dropout(p=0.5)  # inactive in eval mode
            # stage 1 refines layer4 (2048 ch, 512 wide); stages 2-4 layer3..layer1 (256 wide)
            self.p_ims1d2_outl1_dimred = _conv3(2048, 512)
            self.adapt_stage1_b = _rcu(512, 2)
            self.mflow_conv_g1_pool = _crp(512)
            self.mflow_conv_g1_b = _rcu(512, 3)
            self.mflow_conv_g1_b3_joint_varout_dimred = _conv3(512, 256)
            for stage, cin in ((2, 1024), (3, 512), (4, 256)):
                setattr(self, f"p_ims1d2_outl{stage}_dimred", _conv3(cin, 256))
                setattr(self, f"adapt_stage{stage}_b", _rcu(256, 2))
                setattr(self, f"adapt_stage{stage}_b2_joint_varout_dimred", _conv3(256, 256))
                setattr(self, f"mflow_conv_g{stage}_pool", _crp(256))
                setattr(self, f"mflow_conv_g{stage}_b", _rcu(256, 3))
                if stage < 4:
                    name = f"mflow_conv_g{stage}_b3_joint_varout_dimred"
                    setattr(self, name, _conv3(256, 256))
            self.clf_conv = nn.Conv2d(256, outputs, 3, padding=1, bias=True)

        def features(self, x):
            r = self.resnet
            x = r.maxpool(r.relu(r.bn1(r.conv1(x))))
            l1 = r.layer1(x)
            l2 = r.layer2(l1)
            l3 = r.layer3(l2)
            return l1, l2, l3, r.layer4(l3)

        def forward(self, x):
            l1, l2, l3, l4 = self.features(x)
            feats = {1: self.do(l4), 2: self.do(l3), 3: l2, 4: l1}
            g = getattr
            top = None
            for stage in (1, 2, 3, 4):
                y = g(self, f"p_ims1d2_outl{stage}_dimred")(feats[stage])
                y = g(self, f"adapt_stage{stage}_b")(y)
                if top is not None:
                    y = g(self, f"adapt_stage{stage}_b2_joint_varout_dimred")(y) + top
                y = F.relu(y)
                y = g(self, f"mflow_conv_g{stage}_pool")(y)
                y = g(self, f"mflow_conv_g{stage}_b")(y)
                if stage < 4:
                    y = g(self, f"mflow_conv_g{stage}_b3_joint_varout_dimred")(y)
                    top = up(y, feats[stage + 1])
            size = (l1.shape[2] * 4, l1.shape[3] * 4)
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=True)
            return self.clf_conv(self.do(y))

    return RefineNet()


# -- checkpoints ---------------------------------------------------------------------------------
def read_state_dict(path: str | Path) -> dict[str, Any]:
    """The network's weights from a GEFU / CIConv / ZeroShotDayNightDA checkpoint file."""
    try:
        obj = load_checkpoint(path)
    except ValueError as exc:
        raise ModelUnavailable(f"refinenet: {exc}") from None
    for key in ("model_state_dict", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise ModelUnavailable(f"refinenet: {path} holds no state dict")
    return dict(obj)


def map_keys(state: dict[str, Any], expected: set[str]) -> tuple[dict[str, Any], list[str]]:
    """``state`` in the network's key names (``module.`` removed) and the keys dropped as
    unused by the evaluators; raises ValueError naming missing or unknown keys."""
    mapped = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.startswith("resnet.ciconv.") for k in mapped):
        raise ValueError(
            "refinenet: a colour-invariant (CIConv) RefineNet checkpoint; only the RGB "
            "RefineNet is supported"
        )
    dropped = sorted(k for k in mapped if k not in expected and k.startswith(UNUSED_PREFIXES))
    for k in dropped:
        del mapped[k]
    mismatch = key_mismatch(mapped, expected)
    if mismatch:
        raise ValueError(f"refinenet: checkpoint keys do not fit: {mismatch}")
    return mapped, dropped


def outputs_of(state: dict[str, Any]) -> int:
    """Output channels of a checkpoint's classifier."""
    for key in ("clf_conv.weight", "module.clf_conv.weight"):
        if key in state:
            return int(state[key].shape[0])
    raise ValueError("refinenet: the checkpoint has no clf_conv.weight")


# -- the frozen model family -----------------------------------------------------------------------
def resolved_options(options: dict[str, Any]) -> dict[str, Any]:
    """The inference options (None: the default) with defaults filled in, checked."""
    out = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    size = [int(v) for v in out["size"]]
    scales = [float(s) for s in out["scales"]]
    if len(size) != 2 or min(size) < 8:
        raise ValueError(f"refinenet: size must be [height, width] >= 8, not {out['size']}")
    if not scales or min(scales) <= 0:
        raise ValueError(f"refinenet: scales must be positive, not {out['scales']}")
    flip, normalize = bool(out["flip"]), bool(out["normalize"])
    return {"size": size, "scales": scales, "flip": flip, "normalize": normalize}


class RefineNetModel(FrozenModel):
    """A frozen RefineNet-R101 segmenter: ``checkpoint`` (path or URL; the layouts in the module
    doc), options (``size`` [h, w] the image and label are resized to and scored at;
    ``scales``; ``flip``; ``normalize``: ImageNet mean/std), ``allow_random_weights``."""

    family = "refinenet"
    serves = ("segmenter",)
    packages = {"torchvision": "torchvision", "PIL": "pillow"}

    def __init__(
        self,
        checkpoint: str | None = None,
        size: list[int] | None = None,
        scales: list[float] | None = None,
        flip: bool | None = None,
        normalize: bool | None = None,
        allow_random_weights: bool = False,
    ):
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        options = {"size": size, "scales": scales, "flip": flip, "normalize": normalize}
        self.options = resolved_options(options)
        self.allow_random_weights = bool(allow_random_weights)

    def spec(self) -> dict[str, Any]:
        random = self.random_weights
        return {
            "family": self.family,
            "port_version": PORT_VERSION,
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": None if random else checkpoint_hash(self.checkpoint),
            "random_weights": random,
            **self.options,
            "versions": versions("torch", "torchvision", "pillow"),
        }

    def build(self, device: str) -> RefineNetSegmenter:
        path = self.weights_file()
        state = None if path is None else read_state_dict(path)
        return RefineNetSegmenter(state, device, **self.options)


class RefineNetSegmenter:
    """A loaded RefineNet on ``device``; ``state=None`` keeps a seeded random init.
    ``num_classes`` is the 19 scored classes (the void channel is predicted, never scored)."""

    num_classes = EVAL_CLASSES

    def __init__(
        self, state, device="cpu", size=(360, 640), scales=(1.0,), flip=False, normalize=False
    ):
        import torch

        outputs = OUTPUTS if state is None else outputs_of(state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # a random-weight model is the same model on every run
            net = build_refinenet(outputs)
        if state is not None:
            expected = set(net.state_dict())
            try:
                mapped, self.dropped = map_keys(state, expected)
            except ValueError as exc:
                raise ModelUnavailable(str(exc)) from None
            net.load_state_dict(mapped, strict=True)
        else:
            self.dropped = []
        self.net = net.to(device).eval()
        self.device, self.outputs = device, outputs
        self.size, self.scales = tuple(int(v) for v in size), tuple(scales)
        self.flip, self.normalize = flip, normalize

    def inputs(self, images) -> list[Any]:
        """Per scale, the ``[B,3,h,w]`` network input for ``images`` ``[B,3,H,W]`` in [0,1]:
        8-bit, Lanczos to ``size``, Lanczos to each scale, [0,1] (normalised if asked)."""
        import numpy as np
        import torch
        from PIL import Image

        from gefu.io import to_uint8

        h, w = self.size  # 8-bit as the enhanced images are saved (gefu.io.to_uint8)
        base = [Image.fromarray(to_uint8(im)).resize((w, h), Image.LANCZOS) for im in images]
        out = []
        for s in self.scales:
            size = (int(w * s), int(h * s))
            batch = np.stack([np.asarray(im.resize(size, Image.LANCZOS)) for im in base])
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255)
            if self.normalize:
                x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
            out.append(x.to(self.device))
        return out

    def logits(self, images):
        """Summed per-scale logits ``[B, outputs, h, w]`` at ``size``."""
        import torch
        import torch.nn.functional as F

        total = None
        with torch.inference_mode():
            for x in self.inputs(images):
                passes = [self.net(x)]
                if self.flip:
                    passes.append(self.net(x.flip(3)).flip(3))
                for y in passes:
                    y = F.interpolate(y, size=self.size, mode="bilinear", align_corners=True)
                    total = y if total is None else total + y
        return total

    def predict(self, images):
        """Label maps ``[B, h, w]`` int64 at ``size`` (19 = the void channel won)."""
        return self.logits(images).argmax(1)

    def fit_label(self, label):
        """A label mask resized to ``size`` as the evaluator does (PIL nearest)."""
        import numpy as np
        import torch
        from PIL import Image

        h, w = self.size
        array = label.detach().cpu().numpy()
        if array.min() < 0 or array.max() > 255:
            raise ValueError("label ids must be 0-255 to be resized like the evaluator's masks")
        mask = Image.fromarray(array.astype(np.uint8)).resize((w, h), Image.NEAREST)
        return torch.from_numpy(np.asarray(mask).astype(np.int64))
