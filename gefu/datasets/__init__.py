"""Datasets: lazy readers yielding ``Sample`` items (input, reference, target, metadata).

Target formats, shared by every reader of a task (see ``gefu.datasets.base``):
- detection: ``{"boxes": float32 [N,4] x1,y1,x2,y2 in pixels, "labels": int64 [N]}``, labels
  index ``dataset.classes``;
- segmentation: int64 ``[H,W]`` Cityscapes train ids (or the set's own ids), 255 = ignore;
- classification: an ``int`` index into ``dataset.classes``.
Metadata (``Sample.meta``): ``path``, ``split``, and where the set has them ``light``
(ExDark 1-10) and ``scene`` ("indoor"/"outdoor").
"""

from __future__ import annotations

from typing import Any

from gefu.core.registry import Registry

DATASETS: Registry = Registry("dataset")
# A built-in is declared once, by its line below; the decorator is for code
# outside the suite (a script, a test).
register_dataset = DATASETS.register

for _name, _target in {
    # generic folders and formats
    "paired_folder": "gefu.datasets.folders:PairedFolder",
    "unpaired_folder": "gefu.datasets.folders:UnpairedFolder",
    "coco_detection": "gefu.datasets.coco:CocoDetection",
    "mask_folder": "gefu.datasets.segmentation:MaskFolder",
    "image_folder": "gefu.datasets.classification:ImageFolderClassification",
    "darkened": "gefu.datasets.darkened:Darkened",
    "demo": "gefu.datasets.demo:DemoDataset",
    "bundled_photos": "gefu.datasets.bundled:BundledPhotos",  # photos shipped with packages
    # detection
    "exdark": "gefu.datasets.exdark:ExDark",
    "darkface": "gefu.datasets.darkface:DarkFace",
    "darkface_voc": "gefu.datasets.darkface:DarkFaceVOC",
    # semantic segmentation (Cityscapes 19 train ids, 255 = ignore)
    "acdc_night": "gefu.datasets.segmentation:ACDCNight",
    "dark_zurich": "gefu.datasets.segmentation:DarkZurich",
    "nighttime_driving": "gefu.datasets.segmentation:NighttimeDriving",
    "nightcity": "gefu.datasets.segmentation:NightCity",
    "bdd100k_night": "gefu.datasets.segmentation:BDD100KNight",
    # classification
    "codan": "gefu.datasets.classification:CODaN",
    # paired (full-reference IQA) and unpaired (no-reference IQA) enhancement sets
    "lol_v1": "gefu.datasets.paired_sets:LOLv1",
    "lol_v2_real": "gefu.datasets.paired_sets:LOLv2Real",
    "lol_v2_synthetic": "gefu.datasets.paired_sets:LOLv2Synthetic",
    "lsrw": "gefu.datasets.paired_sets:LSRW",
    "lime_set": "gefu.datasets.paired_sets:LIMESet",
    "dicm": "gefu.datasets.paired_sets:DICM",
    "mef": "gefu.datasets.paired_sets:MEF",
    "npe": "gefu.datasets.paired_sets:NPE",
    "vv": "gefu.datasets.paired_sets:VV",
}.items():
    DATASETS.add_lazy(_name, _target)


def create_dataset(name: str, root=None, limit: int | None = None, **params: Any):
    """The registered dataset ``name``; ``root`` and ``limit`` are passed where set, every other
    parameter as given (an explicit null means what the dataset makes of None)."""
    return DATASETS.build(name, params, root=root, limit=limit)


def open_dataset(spec) -> Any:
    """The dataset a config entry names (``gefu.core.specs.DatasetSpec``: name, root, limit,
    params)."""
    return create_dataset(spec.name, spec.root, spec.limit, **spec.params)
