"""End-to-end checks of the `gefu` commands, in-process (fast) where possible."""

from __future__ import annotations

import subprocess

import numpy as np
from PIL import Image

from conftest import GEFU, write_photo
from gefu.cli.main import main


def test_help_lists_commands():  # its start-up time: benchmarks/cli_startup.py
    out = subprocess.run([*GEFU, "--help"], capture_output=True, text=True, check=True)
    for cmd in ("run", "report", "list", "enhance", "doctor", "datasets"):
        assert cmd in out.stdout
    for cmd in ("run", "report", "list", "enhance", "doctor", "datasets check"):
        sub = subprocess.run([*GEFU, *cmd.split(), "--help"], capture_output=True, text=True)
        assert sub.returncode == 0 and "usage:" in sub.stdout


def test_list_shows_components_and_availability(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("lime", "msrcr", "paired_folder", "demo", "iqa", "niqe"):
        assert name in out
    assert "lpips" in out and "unavailable" in out  # no LPIPS weights offline


def test_enhance_folder_reports_unreadable_files(tmp_path, capsys):
    src = tmp_path / "in"
    write_photo(src / "a.png", (20, 24), scale=0.2)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(src / "b.jpg")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    code = main(["enhance", "gamma", str(src), str(tmp_path / "out"), "--param", "gamma=0.5"])
    assert code == 1  # one file could not be read
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    err = capsys.readouterr().err
    assert "broken.png" in err
    out = np.asarray(Image.open(tmp_path / "out" / "a.png"), np.float32)
    src_arr = np.asarray(Image.open(src / "a.png"), np.float32)
    assert out.mean() > src_arr.mean() * 1.5


def test_enhance_bad_name_and_param(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    assert main(["enhance", "gama", str(tmp_path / "in"), str(tmp_path / "o")]) == 2
    assert "Did you mean 'gamma'" in capsys.readouterr().err
    assert (
        main(["enhance", "gamma", str(tmp_path / "in"), str(tmp_path / "o"), "--param", "x"]) == 2
    )


def test_run_save_images_and_report(tmp_path, paired_dir, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"name: t\noutput: {tmp_path / 'res'}\ndevice: cpu\n"
        "enhancers: [{name: identity}, {name: he}]\n"
        f"datasets: [{{name: paired_folder, root: {paired_dir}}}]\n"
        "evaluations: [{name: iqa, params: {metrics: [psnr, ssim]}}]\n"
    )
    assert main(["run", str(cfg), "--quiet", "--save-images"]) == 0
    saved = sorted(p.name for p in (tmp_path / "res" / "images" / "paired_folder" / "he").iterdir())
    assert saved == ["img0.png", "img1.png", "img2.png", "img3.png"]
    (tmp_path / "res" / "leaderboard.md").unlink()
    assert main(["report", str(tmp_path / "res")]) == 0
    assert (tmp_path / "res" / "leaderboard.md").is_file()
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_doctor(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "niqe" in out and "device:" in out


def test_paired_folder_mismatch_is_reported(tmp_path, paired_dir):
    from gefu.datasets import create_dataset

    write_photo(paired_dir / "low" / "extra.png")
    (paired_dir / "high" / "img3.png").rename(paired_dir / "high" / "lonely.png")
    ds = create_dataset("paired_folder", root=paired_dir)
    assert [ds.name_of(i) for i in range(len(ds))] == ["img0.png", "img1.png", "img2.png"]
    assert [str(f) for f in ds.findings] == [
        f"{paired_dir / 'low'}: no high/ match for: extra, img3",
        f"{paired_dir / 'high'}: no low/ match for: lonely",
    ]


def test_list_details_reports_parameter_counts(capsys):
    assert main(["list", "--details", "zero_dce"]) == 0
    assert "trainable         79,416" in capsys.readouterr().out
    assert main(["list", "--details", "scuf"]) == 0
    out = capsys.readouterr().out
    assert "parameter counts, tiny:" in out and "parameter counts, full size:" in out
    assert "frozen    865,910,724" in out  # the SD-Turbo (SD 2.1) UNet, built on the meta device
