"""``gefu captions FOLDER CSV``: per-image captions for SCUF's caption-consistency loss.

Writes the tab-separated ``filepath``/``title`` file that ``configs/train/scuf.yaml`` reads
(the layout of the SCUF release), captioning each image with a Hugging Face image-to-text
model (the paper used a CLIP interrogator; any captioner works, e.g. BLIP). The model is read
from a local folder or a hub id; offline, the error says what to download.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

HELP = "caption a folder of images (SCUF's caption-consistency training data)"


def add_arguments(p) -> None:
    p.add_argument("folder", help="images to caption")
    p.add_argument("csv", help="output file (tab-separated: filepath, title)")
    p.add_argument(
        "--model",
        default="Salesforce/blip-image-captioning-base",
        help="a local folder or hub id of an image-to-text model",
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def main(args) -> int:
    from gefu.io import ImageReadError, list_images, read_image_array, to_uint8

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"error: folder {folder} does not exist", file=sys.stderr)
        return 2
    try:
        caption = load_captioner(args.model, args.device)
    except OSError as exc:
        print(
            f"error: cannot load the captioning model {args.model!r} ({exc}); download it "
            "with network access, or pass --model a local folder",
            file=sys.stderr,
        )
        return 2
    rows, failures = [], 0
    for path in list_images(folder):
        try:
            rows.append((str(path), caption(to_uint8(read_image_array(path)))))
        except ImageReadError as exc:
            print(f"skipped {exc}", file=sys.stderr)
            failures += 1
    write_captions(Path(args.csv), rows)
    print(f"captioned {len(rows)} image(s) into {args.csv}")
    return 1 if failures else 0


def load_captioner(model: str, device: str = "auto"):
    """A function ``uint8 [H,W,3] array -> caption`` from a transformers image-to-text model."""
    from PIL import Image
    from transformers import pipeline

    from gefu.bench.executors import resolve_device

    local = Path(model).expanduser().is_dir()
    pipe = pipeline(
        "image-to-text",
        model=model,
        device=resolve_device(device),
        model_kwargs={"local_files_only": local},
    )
    return lambda array: pipe(Image.fromarray(array))[0]["generated_text"].strip()


def write_captions(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["filepath", "title"])
        writer.writerows(rows)
