"""facenet-pytorch's MTCNN face detector (the ``mtcnn`` family of ``gefu.tasks.frozen``): its
weights ship inside the package, so it works offline and takes no checkpoint. It gets the
enhanced batch as a float 0-255 tensor on the device, without 8-bit quantisation."""

from __future__ import annotations

from typing import Any

from gefu.tasks.frozen import FrozenModel, packages_unavailable, versions

MTCNN_THRESHOLDS = (0.6, 0.7, 0.7)  # facenet-pytorch's defaults for its three stages


class MTCNNModel(FrozenModel):
    """MTCNN with ``min_face_size`` (pixels); thresholds are facenet-pytorch's defaults."""

    family = "mtcnn"
    serves = ("face_detector",)
    packages = {"facenet_pytorch": "facenet-pytorch"}

    def __init__(self, min_face_size: int = 20):
        self.min_face_size = min_face_size

    def unavailable(self, download: bool = False) -> str | None:
        return packages_unavailable(self.packages, self.install_hint)

    def spec(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "library": "facenet-pytorch",
            "version": versions("facenet-pytorch")["facenet-pytorch"] or "absent",
            "min_face_size": self.min_face_size,  # the weights ship inside the package
            "thresholds": list(MTCNN_THRESHOLDS),
        }

    def build(self, device: str) -> MTCNNFaces:
        return MTCNNFaces(device, self.min_face_size)


class MTCNNFaces:
    """A loaded MTCNN as a batch face detector: ``predict([B,3,H,W] in [0,1])``."""

    classes = ("face",)

    def __init__(self, device: str, min_face_size: int = 20):
        import torch
        from facenet_pytorch import MTCNN

        self.min_face_size = min_face_size
        self.net = MTCNN(
            keep_all=True,
            select_largest=False,  # keep boxes in probability order
            min_face_size=min_face_size,
            thresholds=list(MTCNN_THRESHOLDS),
            device=torch.device(device),
        ).eval()

    def predict(self, images) -> list[dict[str, Any]]:
        import numpy as np

        empty = {
            "boxes": np.zeros((0, 4), np.float32),
            "scores": np.zeros(0, np.float32),
            "labels": np.zeros(0, np.int64),
        }
        if min(images.shape[-2:]) < self.min_face_size:  # no scale of MTCNN's pyramid fits
            return [dict(empty) for _ in range(images.shape[0])]
        pixels = images.detach().float().mul(255).permute(0, 2, 3, 1).contiguous()  # BHWC RGB
        boxes, probs = self.net.detect(pixels)
        out = []
        for b, p in zip(boxes, probs, strict=True):
            if b is None:
                out.append(dict(empty))
                continue
            scores = np.asarray(p, dtype=np.float32).reshape(-1)
            out.append(
                {
                    "boxes": np.asarray(b, dtype=np.float32).reshape(-1, 4),
                    "scores": scores,
                    "labels": np.zeros(len(scores), np.int64),
                }
            )
        return out
