"""The weights store: releases download from a local HTTP server laid out like their origins
(GitHub's ``/<repo>/raw/<commit>/<path>``), are verified, cached, mirrored and refused when bad.

Nothing here reaches the network. Tests marked ``needs_released`` serve the official files of
``$GEFU_RELEASED_DIR`` (default ``<repository>/../shared/released``) and skip where it is absent;
the others serve a small file of their own, declared as a release for the test.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from gefu.cli.main import main
from gefu.enhancers import released, weights
from gefu.enhancers.released import RELEASES, Release

RELEASED = Path(os.environ.get("GEFU_RELEASED_DIR", REPO.parent / "shared" / "released"))
needs_released = pytest.mark.skipif(
    not RELEASED.is_dir(),
    reason=f"released checkpoints not found at {RELEASED} (set GEFU_RELEASED_DIR)",
)
TOY = b"\x80\x02toy weights " + bytes(range(256)) * 64  # 16 kB, not an HTML page
TOY_SHA = hashlib.sha256(TOY).hexdigest()


class Origin:
    """A local HTTP server: ``files`` maps a URL path to bytes; ``mode`` misbehaves on purpose
    (``corrupt``: other bytes, ``html``: a quota page, ``cut``: half the file, then closed)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.mode = "ok"
        self.delay = 0.0
        self.requests: list[str] = []
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self):  # noqa: N802 (http.server's name); the Hub client asks first
                self.do_GET(head=True)

            def do_GET(self, head=False):  # noqa: N802
                origin.requests.append(self.command + " " + self.path)
                body = origin.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                if origin.mode == "html":
                    body = b"<!DOCTYPE html><html><body>Quota exceeded</body></html>"
                elif origin.mode == "corrupt":
                    body = body[:-1] + bytes([body[-1] ^ 1])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Repo-Commit", "b" * 40)  # what the Hub's client reads
                self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                self.end_headers()
                if head:
                    return
                time.sleep(origin.delay)
                if origin.mode == "cut":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        serve = self.server.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def serve_release(self, release: Release, body: bytes) -> None:
        self.files[f"/{release.repo}/raw/{release.commit}/{release.path}"] = body

    def downloads(self) -> int:
        return sum(1 for r in self.requests if r.startswith("GET") and "/raw/" in r)


@pytest.fixture
def origin(monkeypatch):
    server = Origin()
    monkeypatch.setattr(released, "GITHUB", server.url)
    monkeypatch.setattr(weights, "HF_ENDPOINT", server.url)
    monkeypatch.setattr(weights, "RETRIES", 0)  # pooch would wait 1 s before a retry
    yield server
    server.server.shutdown()


def add_release(monkeypatch, sha256=TOY_SHA, path="ckpt/toy.pth", hub=None):
    """Declare ``toy.test`` (a GitHub file, or one on the Hub) for the length of the test."""
    row = Release(
        "toy.test", None, "toy.pth", "someone/toy", path, "a" * 40, sha256, "CC BY-NC", hub=hub
    )
    monkeypatch.setattr(RELEASES, "_rows", {**RELEASES._table(), row.name: row})
    return row


def cache_files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


# -- with a file of the test's own -----------------------------------------------------------
def test_fetch_verifies_caches_and_does_not_download_twice(origin, monkeypatch, weights_home):
    release = add_release(monkeypatch)
    origin.serve_release(release, TOY)
    path = weights.fetch("toy.test")
    assert path == weights_home / "toy.test" / "toy.pth" and path.read_bytes() == TOY
    assert weights.fetch("toy.test", verify=True) == path
    assert weights.resolve_weights("toy.test") == str(path)
    assert origin.downloads() == 1
    assert [p for p in path.parent.iterdir() if p.name.startswith(".staging")] == []


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("corrupt", "has SHA-256"),
        ("html", "returned an HTML page"),
        ("cut", "could not fetch toy.pth"),
    ],
)
def test_a_bad_download_leaves_nothing_in_the_cache(
    origin, monkeypatch, weights_home, mode, message
):
    release = add_release(monkeypatch)
    origin.serve_release(release, TOY)
    origin.mode = mode
    with pytest.raises((weights.WeightsRefused, weights.WeightsUnavailable)) as info:
        weights.fetch("toy.test")
    text = str(info.value)
    assert message in text and release.download_url in text
    if mode == "corrupt":  # both hashes named
        assert TOY_SHA in text
    assert cache_files(weights_home) == ["toy.test/.lock"]
    origin.mode = "ok"  # the next try succeeds
    assert weights.fetch("toy.test").read_bytes() == TOY


def test_a_hub_file_downloads_through_huggingface_hub(origin, monkeypatch, weights_home):
    add_release(monkeypatch, path=None, hub=("someone/toy", "Weights/toy.pth", "main"))
    origin.files["/someone/toy/resolve/main/Weights/toy.pth"] = TOY
    path = weights.fetch("toy.test")
    assert path == weights_home / "toy.test" / "toy.pth" and path.read_bytes() == TOY
    assert "GET /someone/toy/resolve/main/Weights/toy.pth" in origin.requests
    assert cache_files(weights_home) == ["toy.test/.lock", "toy.test/toy.pth"]
    origin.files["/someone/toy/resolve/main/Weights/toy.pth"] = b"<html>login</html>"
    path.unlink()
    with pytest.raises(weights.WeightsRefused, match="HTML page"):
        weights.fetch("toy.test")


def test_the_mirror_is_tried_before_the_origin(origin, monkeypatch, tmp_path):
    release = add_release(monkeypatch)
    origin.serve_release(release, TOY)
    mirror = tmp_path / "mirror"
    (mirror / "toy.test").mkdir(parents=True)
    (mirror / "toy.test" / "toy.pth").write_bytes(TOY)
    monkeypatch.setenv("GEFU_WEIGHTS_MIRROR", str(mirror))
    monkeypatch.setenv("GEFU_OFFLINE", "1")  # a mirror folder needs no network
    assert weights.fetch("toy.test").read_bytes() == TOY
    assert origin.requests == []


def test_a_mirror_url_is_tried_before_the_origin(origin, monkeypatch):
    release = add_release(monkeypatch)
    origin.serve_release(release, b"never served")
    origin.files["/lab/toy.test/toy.pth"] = TOY
    monkeypatch.setenv("GEFU_WEIGHTS_MIRROR", f"{origin.url}/lab/")
    assert weights.fetch("toy.test").read_bytes() == TOY
    assert origin.requests == ["GET /lab/toy.test/toy.pth"]


def test_offline_a_missing_release_is_one_clear_error(origin, monkeypatch, tmp_path):
    release = add_release(monkeypatch)
    origin.serve_release(release, TOY)
    monkeypatch.setenv("GEFU_OFFLINE", "1")
    with pytest.raises(weights.WeightsUnavailable) as info:
        weights.resolve_weights("toy.test")
    text = str(info.value)
    assert "gefu weights fetch toy.test" in text and release.download_url in text
    assert "GEFU_OFFLINE=1" in text and origin.requests == []
    with pytest.raises(weights.WeightsUnavailable, match="--no-download"):
        monkeypatch.delenv("GEFU_OFFLINE")
        weights.fetch("toy.test", download=False)


def test_an_unpinned_hash_is_recorded_with_a_warning_then_enforced(origin, monkeypatch, tmp_path):
    release = add_release(monkeypatch, sha256=None)
    origin.serve_release(release, TOY)
    with pytest.warns(UserWarning, match="no SHA-256 is pinned"):
        path = weights.fetch("toy.test")
    assert weights.expected_sha256(release) == TOY_SHA
    path.write_bytes(TOY + b"tampered")
    origin.mode = "corrupt"  # the re-download differs from the recorded hash too
    with pytest.raises(weights.WeightsRefused, match="expected"):
        weights.fetch("toy.test", verify=True)
    assert not path.exists()


def test_concurrent_fetches_end_with_one_verified_file(origin, monkeypatch, weights_home):
    release = add_release(monkeypatch)
    origin.serve_release(release, TOY)
    origin.delay = 0.5  # both fetches start while the first download is under way
    paths, errors = [], []

    def one():
        try:
            paths.append(weights.fetch("toy.test"))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(paths)) == 1 and paths[0].read_bytes() == TOY
    assert origin.downloads() == 1
    assert cache_files(weights_home) == ["toy.test/.lock", "toy.test/toy.pth"]


def test_a_release_without_a_source_says_where_to_get_it(monkeypatch, weights_home):
    add_release(monkeypatch, path=None)
    with pytest.raises(weights.WeightsUnavailable, match="no download source") as info:
        weights.fetch("toy.test")
    assert str(weights_home / "toy.test" / "toy.pth") in str(info.value)


def test_weights_list_and_fetch_cli(origin, monkeypatch, capsys):
    release = add_release(monkeypatch)
    origin.serve_release(release, TOY)
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "semi_llie.training" in out and "by hand only" in out
    assert f"download: {release.download_url}" in out and "cached:   no" in out
    assert main(["weights", "fetch", "toy.test"]) == 0
    assert "NON-COMMERCIAL: CC BY-NC" in capsys.readouterr().out
    assert main(["weights", "list"]) == 0
    assert "cached:   yes, 0.02 MB" in capsys.readouterr().out
    assert main(["weights", "fetch", "no.such"]) == 2


def test_every_release_has_a_download_source_or_says_it_is_by_hand():
    for release in RELEASES.values():
        if release.download_url is None:
            assert release.name == "semi_llie.training"  # no weights were released
        elif release.hub is None:
            assert len(release.commit) == 40, release.name  # pinned to a full commit


# -- with the official files -----------------------------------------------------------------
def serve_official(origin: Origin) -> None:
    for method, file, name in [
        ("zero_dce", "Epoch99.pth", "zero_dce.official"),
        ("zero_dce_pp", "Epoch99.pth", "zero_dce_pp.official"),
        ("scl_lle", "SCL-LLE.pth", "scl_lle.official"),
        ("sagc", "base.pth", "sagc.base"),
    ]:
        origin.serve_release(RELEASES[name], (RELEASED / method / file).read_bytes())


@needs_released
def test_config_naming_a_release_reproduces_the_official_output(
    origin, monkeypatch, tmp_path, capsys
):
    from gefu.bench.config import validate_config
    from gefu.enhancers import create_enhancer
    from gefu.io import read_image

    serve_official(origin)
    assert main(["weights", "fetch", "zero_dce.official"]) == 0
    assert "NON-COMMERCIAL" in capsys.readouterr().out and origin.downloads() == 1
    config = validate_config(
        {
            "name": "t",
            "enhancers": [{"name": "zero_dce", "weights": "zero_dce.official"}],
            "datasets": [{"name": "demo"}],
            "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr"]}}],
        }
    )
    assert config.enhancers[0].weights == "zero_dce.official" and origin.downloads() == 1
    monkeypatch.setenv("GEFU_OFFLINE", "1")  # from the cache now
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the cached file's hash is the release's: no warning
        model = create_enhancer("zero_dce", weights="zero_dce.official")
    import torch

    image = read_image(RELEASED / "zero_dce" / "chelsea_input.png")
    with torch.no_grad():
        out = model(image[None])[0].permute(1, 2, 0).numpy()
    ref = np.load(RELEASED / "zero_dce" / "chelsea_official_output.npy")
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)
    shutil.copy(RELEASED / "zero_dce" / "chelsea_input.png", tmp_path / "chelsea.png")
    args = ["enhance", "zero_dce", str(tmp_path), str(tmp_path / "out"), "--device", "cpu"]
    args += ["--weights", "zero_dce.official", "--no-download", "--format", "npy"]
    assert main(args) == 0
    np.testing.assert_allclose(np.load(tmp_path / "out" / "chelsea.npy"), ref, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="holds 'zero_dce' weights"):
        create_enhancer("sagc", weights="zero_dce.official")


def test_a_fresh_demo_leaves_the_release_rows_out(monkeypatch):
    from gefu.bench.config import load_config

    monkeypatch.setenv("GEFU_OFFLINE", "1")
    left = load_config(None).left_out
    names = ["zero_dce.official", "zero_dce_pp.official", "scl_lle.official", "sagc.base"]
    for name in [*names, "hvr_ssle.official"]:
        assert left[name] == name


@needs_released
def test_demo_rows_join_when_their_weights_are_in_the_mirror(monkeypatch, tmp_path):
    from gefu.bench.config import load_config

    mirror = tmp_path / "mirror"
    for method, file, name in [
        ("zero_dce", "Epoch99.pth", "zero_dce.official"),
        ("sagc", "base.pth", "sagc.base"),
    ]:
        (mirror / name).mkdir(parents=True)
        os.symlink(RELEASED / method / file, mirror / name / file)
    monkeypatch.setenv("GEFU_WEIGHTS_MIRROR", str(mirror))
    monkeypatch.setenv("GEFU_OFFLINE", "1")  # the demo never downloads
    config = load_config(None)
    labels = [e.label for e in config.enhancers]
    assert "zero_dce.official" in labels and "sagc.base" in labels
    assert "scl_lle.official" in config.left_out  # not in the mirror
    assert weights.is_cached("zero_dce.official") and weights.is_cached("sagc.base")


@needs_released
def test_cell_keys_carry_the_weights_file_hash(origin, paired_dir, tmp_path):
    from gefu.bench.config import validate_config
    from gefu.bench.grid import build_grid

    serve_official(origin)

    def key(weights_value):
        config = validate_config(
            {
                "name": "t",
                "enhancers": [{"name": "zero_dce", "weights": weights_value}],
                "datasets": [{"name": "paired_folder", "root": str(paired_dir)}],
                "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr"]}}],
            }
        )
        grid = build_grid(config, str)
        return [c.key for c in grid.cells if c.enhancer == "zero_dce"]

    by_name = key("zero_dce.official")
    assert by_name == key(str(weights.cached_path("zero_dce.official")))
    other = tmp_path / "Epoch99.pth"
    shutil.copy(RELEASED / "scl_lle" / "SCL-LLE.pth", other)  # same layout, other weights
    assert by_name != key(str(other))


@needs_released
def test_run_leaves_a_release_row_out_until_fetched_then_scores_it(
    origin, monkeypatch, tmp_path, paired_dir, capsys
):
    serve_official(origin)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"name: t\noutput: {tmp_path / 'res'}\ndevice: cpu\nenhancers:\n"
        "  - {name: identity}\n"
        "  - {name: zero_dce, id: zero_dce.official, weights: zero_dce.official, optional: true}\n"
        f"datasets: [{{name: paired_folder, root: {paired_dir}}}]\n"
        "evaluations: [{name: iqa, params: {metrics: [psnr]}}]\n"
    )
    assert main(["run", str(cfg), "--no-download"]) == 0
    err = capsys.readouterr().err
    assert "left out until their released weights are fetched" in err
    assert "`gefu weights fetch zero_dce.official`" in err and origin.requests == []
    assert "zero_dce.official" not in (tmp_path / "res" / "leaderboard.md").read_text()
    monkeypatch.delenv("GEFU_OFFLINE")  # --no-download set it for the run and its workers
    assert main(["weights", "fetch", "zero_dce.official"]) == 0
    assert main(["run", str(cfg), "--no-download"]) == 0
    assert "zero_dce.official" in (tmp_path / "res" / "leaderboard.md").read_text()
    from gefu.cli.doctor import print_weights_cache  # `gefu doctor`'s section

    capsys.readouterr()
    print_weights_cache()
    assert "ok      zero_dce.official: sha256 a4395acb" in capsys.readouterr().out
    required = cfg.read_text().replace(", optional: true", "")
    cfg.write_text(required.replace("zero_dce.official", "sagc.base").replace("zero_dce", "sagc"))
    assert main(["run", str(cfg), "--no-download"]) == 2
    err = capsys.readouterr().err
    assert "sagc.base is not in the weights cache" in err and "gefu weights fetch sagc.base" in err
