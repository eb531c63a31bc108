"""Cityscapes label ids and the 19 train ids that night segmentation sets are scored on.

The table follows the official one in cityscapesScripts (``helpers/labels.py``): 34 label ids
plus the license plate (-1), each with its train id; 255 means "ignored in evaluation".
"""

from __future__ import annotations

import numpy as np

IGNORE = 255

# The 19 evaluated classes, in train-id order 0..18.
TRAIN_CLASSES: tuple[str, ...] = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)

# label id -> (name, train id)
LABELS: dict[int, tuple[str, int]] = {
    0: ("unlabeled", IGNORE),
    1: ("ego vehicle", IGNORE),
    2: ("rectification border", IGNORE),
    3: ("out of roi", IGNORE),
    4: ("static", IGNORE),
    5: ("dynamic", IGNORE),
    6: ("ground", IGNORE),
    7: ("road", 0),
    8: ("sidewalk", 1),
    9: ("parking", IGNORE),
    10: ("rail track", IGNORE),
    11: ("building", 2),
    12: ("wall", 3),
    13: ("fence", 4),
    14: ("guard rail", IGNORE),
    15: ("bridge", IGNORE),
    16: ("tunnel", IGNORE),
    17: ("pole", 5),
    18: ("polegroup", IGNORE),
    19: ("traffic light", 6),
    20: ("traffic sign", 7),
    21: ("vegetation", 8),
    22: ("terrain", 9),
    23: ("sky", 10),
    24: ("person", 11),
    25: ("rider", 12),
    26: ("car", 13),
    27: ("truck", 14),
    28: ("bus", 15),
    29: ("caravan", IGNORE),
    30: ("trailer", IGNORE),
    31: ("train", 16),
    32: ("motorcycle", 17),
    33: ("bicycle", 18),
    -1: ("license plate", -1),  # never stored in 8-bit label images
}

# label id -> train id, for the ids an 8-bit label image can hold
LABEL_TO_TRAIN: dict[int, int] = {i: t for i, (_, t) in LABELS.items() if i >= 0}


def lookup_table(label_map: dict[int, int], size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``(lut, known)``: ``lut[raw] -> train id`` (unmapped -> 255) and ``known[raw]``, whether
    ``raw`` is a key of ``label_map`` or 255 itself (ignore stays ignore)."""
    lut = np.full(size, IGNORE, dtype=np.int64)
    known = np.zeros(size, dtype=bool)
    for raw, train in label_map.items():
        lut[raw], known[raw] = train, True
    known[IGNORE] = True
    return lut, known


def apply_lookup(raw: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Map an integer id image through ``lut`` (vectorized); ids beyond the table -> 255."""
    if raw.size and (raw.min() < 0 or raw.max() >= len(lut)):
        out = np.full(raw.shape, IGNORE, dtype=np.int64)
        inside = (raw >= 0) & (raw < len(lut))
        out[inside] = lut[raw[inside]]
        return out
    return lut[raw]
