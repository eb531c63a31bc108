"""Class maps between dataset label sets and the label sets of pretrained detectors.

A COCO-pretrained detector predicts COCO labels; to score it on ExDark, its predictions are
mapped to ExDark labels (and predictions of other COCO classes dropped):

    to_model = label_map(ExDark.classes, COCO_CLASSES, EXDARK_TO_COCO)  # ExDark i -> COCO j
    to_dataset = invert_label_map(to_model)                              # COCO j -> ExDark i
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# The 80 COCO detection classes in category-id order: mmdetection's ``CocoDataset`` order and
# the contiguous 0-79 labels its COCO models predict.
COCO_CLASSES: tuple[str, ...] = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)

# The official COCO category id of each of COCO_CLASSES (ids 1-90 with gaps): for COCO-format
# results. torchvision's COCO detectors predict these ids directly (index 0 = background).
COCO_CATEGORY_IDS: tuple[int, ...] = (
    *range(1, 12),
    *range(13, 26),
    27,
    28,
    *range(31, 45),
    *range(46, 66),
    67,
    70,
    *range(72, 83),
    *range(84, 91),
)

# ExDark's 12 classes (official order) -> the COCO class each one is.
EXDARK_TO_COCO: dict[str, str] = {
    "Bicycle": "bicycle",
    "Boat": "boat",
    "Bottle": "bottle",
    "Bus": "bus",
    "Car": "car",
    "Cat": "cat",
    "Chair": "chair",
    "Cup": "cup",
    "Dog": "dog",
    "Motorbike": "motorcycle",
    "People": "person",
    "Table": "dining table",
}


def label_map(
    dataset_classes: Sequence[str],
    model_classes: Sequence[str],
    names: Mapping[str, str] | None = None,
) -> tuple[int, ...]:
    """For each dataset label, the model label of the same class: ``names`` renames dataset
    classes to model class names (e.g. EXDARK_TO_COCO); classes it leaves out must match a
    model class by name (case-insensitive). Raises ``KeyError`` naming every class the model
    lacks: a partial map would silently score some classes as never detected."""
    index: dict[str, int] = {}
    for i, name in enumerate(model_classes):
        index.setdefault(name.lower(), i)  # first wins: torchvision repeats "N/A"
    names = names or {}
    out, missing = [], []
    for cls in dataset_classes:
        target = names.get(cls, cls)
        if target.lower() in index:
            out.append(index[target.lower()])
        else:
            missing.append(f"{cls} (as {target!r})" if target != cls else cls)
    if missing:
        raise KeyError(f"the model has no class for: {', '.join(missing)}")
    return tuple(out)


def invert_label_map(mapping: Sequence[int]) -> dict[int, int]:
    """Model label -> dataset label, from ``label_map``'s result; model labels that are absent
    belong to no dataset class (drop those predictions). Raises on a many-to-one map."""
    inverse: dict[int, int] = {}
    for dataset_label, model_label in enumerate(mapping):
        if model_label in inverse:
            raise ValueError(
                f"dataset labels {inverse[model_label]} and {dataset_label} both map to model "
                f"label {model_label}"
            )
        inverse[model_label] = dataset_label
    return inverse
