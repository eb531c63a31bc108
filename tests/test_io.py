import numpy as np
import pytest
from PIL import Image

from gefu.io import ImageReadError, read_image, read_image_array


def test_reads_awkward_formats_as_rgb_float(tmp_path):
    import cv2

    gray = (np.arange(20 * 30) % 256).astype(np.uint8).reshape(20, 30)
    Image.fromarray(gray).save(tmp_path / "gray.jpg")
    rgba = np.zeros((8, 9, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 17
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    deep = np.full((5, 6, 3), 65535, np.uint16)
    deep[..., 2] = 32768  # BGR in OpenCV: channel 2 is red
    cv2.imwrite(str(tmp_path / "deep.png"), deep)

    g = read_image_array(tmp_path / "gray.jpg")
    assert g.shape == (20, 30, 3) and g.dtype == np.float32
    assert np.allclose(g[..., 0], g[..., 2])
    a = read_image_array(tmp_path / "rgba.png")
    assert a.shape == (8, 9, 3) and np.allclose(a[..., 0], 200 / 255)
    d = read_image_array(tmp_path / "deep.png")
    assert np.allclose(d[..., 0], 32768 / 65535) and np.allclose(d[..., 2], 1.0)
    t = read_image(tmp_path / "rgba.png")
    assert tuple(t.shape) == (3, 8, 9)


def test_unreadable_files_raise_with_name_and_reason(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 90).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.jpg").write_text("not an image")
    for name, reason in [
        ("empty.png", "empty file"),
        ("cut.png", "truncated"),
        ("text.jpg", "not a recognised"),
    ]:
        with pytest.raises(ImageReadError) as err:
            read_image_array(tmp_path / name)
        assert name in str(err.value) and reason in str(err.value)
