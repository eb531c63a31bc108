"""``--save-images`` on a run whose cells are cached writes the images (enhanced again, only
for the rows whose images are missing), without recomputing any cell."""

from __future__ import annotations

from gefu.cli.main import main


def test_save_images_on_a_cached_run(tmp_path, paired_dir, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"name: t\noutput: {tmp_path / 'res'}\ndevice: cpu\n"
        "enhancers: [{name: identity}, {name: gamma}]\n"
        f"datasets: [{{name: paired_folder, root: {paired_dir}}}]\n"
        "evaluations: [{name: iqa, params: {metrics: [psnr]}}]\n"
    )
    assert main(["run", str(cfg), "--quiet"]) == 0
    images = tmp_path / "res" / "images" / "paired_folder"
    assert not images.exists()
    capsys.readouterr()
    assert main(["run", str(cfg), "--save-images"]) == 0
    cap = capsys.readouterr()
    assert "0 cell(s) computed, 3 cached" in cap.out
    assert "saved 4 image(s) of cached gamma · paired_folder" in cap.err
    for row in ("identity", "gamma"):
        assert sorted(p.name for p in (images / row).iterdir()) == [f"img{i}.png" for i in range(4)]
    assert not (images / "reference").exists()
    assert main(["run", str(cfg), "--save-images"]) == 0  # already saved: nothing to do
    assert "saved" not in capsys.readouterr().err
