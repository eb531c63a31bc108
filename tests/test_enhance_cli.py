"""``gefu enhance`` refuses what would be silently wrong, before any model is built."""

from __future__ import annotations

import pytest

from conftest import write_photo
from gefu.cli.main import main


@pytest.fixture
def photos(tmp_path):
    src = tmp_path / "in"
    write_photo(src / "a.png", (12, 16), scale=0.2)
    write_photo(src / "b.png", (12, 16), seed=1, scale=0.2)
    return src


def _refused(capsys, *words):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err
    return err


def test_a_learned_enhancer_without_weights_is_refused(photos, tmp_path, capsys):
    assert main(["enhance", "zero_dce", str(photos), str(tmp_path / "out")]) == 2
    _refused(capsys, "'zero_dce' is a learned enhancer", "--weights")
    assert not (tmp_path / "out").exists()


def test_the_input_folder_is_never_written_without_in_place(photos, capsys):
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    assert main(["enhance", "gamma", str(photos), str(photos / ".." / "in")]) == 2
    _refused(capsys, "the output folder is the input folder", "--in-place")
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before
    assert main(["enhance", "gamma", str(photos), str(photos), "--in-place", "--quiet"]) == 0
    assert {p.name: p.read_bytes() for p in photos.iterdir()} != before


def test_output_name_collisions_name_both_inputs(photos, tmp_path, capsys):
    write_photo(photos / "a.jpg", (12, 16), seed=2)
    assert main(["enhance", "gamma", str(photos), str(tmp_path / "out")]) == 2
    _refused(capsys, "a.jpg and a.png would both be written as a.png")
    assert not (tmp_path / "out").exists()


def test_wrong_parameters_are_listed_together(photos, tmp_path, capsys):
    args = ["enhance", "clahe", str(photos), str(tmp_path / "o"), "--param", "grid_size=2.5"]
    assert main([*args, "--param", "bogus=1"]) == 2
    _refused(capsys, "--param.grid_size: 2.5 is not a valid int", "--param.bogus: unknown")


def test_progress_and_threads(photos, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.delenv("GEFU_THREADS")
    assert main(["enhance", "gamma", str(photos), str(tmp_path / "o"), "--threads", "1"]) == 0
    cap = capsys.readouterr()
    assert "2/2" in cap.err and "enhanced 2 of 2" in cap.out  # the progress bar's count
    assert torch.get_num_threads() == 1
    assert main(["enhance", "gamma", str(photos), str(tmp_path / "o"), "--threads", "0"]) == 2
    _refused(capsys, "--threads must be a positive integer, got 0")
