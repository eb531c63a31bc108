"""Helpers shared by the detection readers: parsed boxes with source lines, box checks,
header-only image probing, tolerant text reading, fingerprints."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gefu.datasets.base import Finding, files_fingerprint
from gefu.io import ImageReadError, read_image


@dataclass
class ParsedBoxes:
    """One annotation file: boxes (x1,y1,x2,y2) with their labels and 1-based source lines;
    ``errors`` make the file unusable (``load`` raises), ``warnings`` do not."""

    boxes: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)
    ignore: list[bool] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    def add(self, box, label: int, line: int | None, ignore: bool = False) -> None:
        self.boxes.append([float(v) for v in box])
        self.labels.append(label)
        self.lines.append(line)
        self.ignore.append(ignore)

    def box_findings(self, path: Path, size: tuple[int, int]) -> list[Finding]:
        return [
            Finding(str(path), issue, line)
            for box, line in zip(self.boxes, self.lines, strict=True)
            if (issue := box_issue(box, *size))
        ]

    def raise_errors(self) -> None:
        if self.errors:
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise ValueError(f"malformed annotation {self.errors[0]}{more}")


def read_text_lines(path: Path) -> list[str]:
    """Lines of a small text file: UTF-8 (with or without BOM, Latin-1 fallback), any line
    ending (LF, CRLF, CR)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.splitlines()


def detection_target(boxes: list, labels: list, ignore: list | None = None) -> dict:
    """``{"boxes": float32 [N,4], "labels": int64 [N]}`` (+ ``"ignore"``: bool [N])."""
    import torch

    target = {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
    }
    if ignore is not None:
        target["ignore"] = torch.tensor(ignore, dtype=torch.bool)
    return target


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the file header only (no decode)."""
    from PIL import Image

    with Image.open(path) as img:
        return img.size


def probe_image(path: Path, decode: bool) -> tuple[tuple[int, int] | None, Finding | None]:
    """``((width, height), None)``, decoding the whole file when ``decode`` (else the header
    only), or ``(None, Finding)`` saying why the image cannot be read."""
    try:
        if not decode:
            return image_size(path), None
        height, width = read_image(path).shape[1:]
        return (int(width), int(height)), None
    except ImageReadError as exc:
        return None, Finding(str(path), exc.reason)
    except OSError as exc:  # Pillow cannot identify or open the header
        return None, Finding(str(path), f"unreadable image ({exc})")


def box_issue(box, width: int, height: int) -> str | None:
    """Why an ``x1,y1,x2,y2`` box is wrong for a ``width`` x ``height`` image, or None."""
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        return f"empty box {fmt_box(box)} (x2 <= x1 or y2 <= y1)"
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        return f"box {fmt_box(box)} outside the {width}x{height} image"
    return None


def fmt_box(box) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def fingerprint_files(files: list[Path], root: Path, extra: Iterable[Path] = ()) -> str:
    """``files_fingerprint`` of the items (relative to ``root``) plus list/annotation files that
    may live anywhere (hashed by name, size and mtime)."""
    h = hashlib.sha256(files_fingerprint(files, root).encode())
    h.update(files_fingerprint([p for p in extra if p is not None]).encode())
    return h.hexdigest()
