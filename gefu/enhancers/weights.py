"""Released weights that download themselves: a verified cache, mirrors, offline errors.

A release (``gefu.enhancers.released.RELEASES``) is cached at
``$GEFU_HOME/weights/<release name>/<file>`` (``GEFU_HOME`` defaults to the user cache folder's
``gefu``, from platformdirs). Transport is a library's, never ours: pooch for URLs (streamed,
retried, progress bar on a terminal) and huggingface_hub's ``hf_hub_download`` for files on the
Hub (its token, ``HF_ENDPOINT`` mirror and retries). Every file first lands in a staging folder
beside the cache, is checked there (not an HTML page; its SHA-256 the pinned one, or, for a
release without a pinned hash, recorded next to the file with a warning to pin it), and only
then renamed into place, under a file lock: a cut, corrupted or substituted download never
reaches the cache, and processes fetching at once end with one verified file.

``GEFU_WEIGHTS_MIRROR`` (a folder, or a base URL, laid out like the cache) is tried before the
origin. ``GEFU_OFFLINE=1`` (or ``download=False``) turns a missing file into one error naming
the source and ``gefu weights fetch NAME``; a mirror folder is still read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from gefu.enhancers.released import RELEASES, Release, sha256_of

HOME_ENV, MIRROR_ENV, OFFLINE_ENV = "GEFU_HOME", "GEFU_WEIGHTS_MIRROR", "GEFU_OFFLINE"
RETRIES = 2  # extra tries of a failed URL download (pooch waits 1 s, 2 s between them)
HF_ENDPOINT: str | None = None  # None: huggingface_hub's own (it honours HF_ENDPOINT)
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")


class WeightsUnavailable(FileNotFoundError):
    """A release that is not in the cache and cannot be fetched now (offline, by hand only)."""


class WeightsRefused(ValueError):
    """A download that is not the release's file (hash mismatch, an HTML page, cut short)."""


def weights_home() -> Path:
    """``$GEFU_HOME/weights`` (default: ``<user cache dir>/gefu/weights``)."""
    home = os.environ.get(HOME_ENV)
    if not home:
        import platformdirs

        home = platformdirs.user_cache_dir("gefu", appauthor=False)
    return Path(home).expanduser() / "weights"


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def cached_path(release: Release | str) -> Path:
    release = _release(release)
    return weights_home() / release.name / Path(release.file).name


def is_release_name(value: object) -> bool:
    """True for a release name (``zero_dce.official``) that is not also an existing path."""
    return isinstance(value, str) and value in RELEASES and not Path(value).expanduser().exists()


def is_cached(release: Release | str) -> bool:
    return cached_path(release).is_file()


def available_offline(release: Release | str) -> bool:
    """In the cache, or in a mirror folder (``GEFU_WEIGHTS_MIRROR``): no network needed."""
    folder = _mirror_folder()
    release = _release(release)
    in_mirror = folder is not None and (folder / _relative(release)).is_file()
    return is_cached(release) or in_mirror


def resolve_weights(value: str | None, download: bool | None = None) -> str | None:
    """A release name -> its cached file (fetched first unless ``download`` is False or
    ``GEFU_OFFLINE`` is set); any other value (a path, None) is returned unchanged."""
    if not is_release_name(value):
        return value
    return str(fetch(value, download=download))


def expected_sha256(release: Release) -> str | None:
    """The pinned SHA-256, else the one recorded at the first download (``<file>.sha256``)."""
    if release.sha256:
        return release.sha256
    record = _record_file(release)
    return record.read_text().split()[0] if record.is_file() else None


def fetch(
    name: Release | str,
    download: bool | None = None,
    verify: bool = False,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """The cached file of release ``name``, from the mirror or origin if not cached yet.
    ``verify`` rechecks the SHA-256 of a file already cached (a bad one is deleted and
    fetched again). ``download=None`` follows ``GEFU_OFFLINE``."""
    import filelock

    release = _release(name)
    allowed = not offline() if download is None else download
    target = cached_path(release)
    if target.is_file() and not verify:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(target.parent / ".lock")):
        if target.is_file():
            try:
                if verify:
                    _check(release, target, str(target))
                return target
            except WeightsRefused as exc:
                _say(log, f"{exc}; fetching it again")
                target.unlink(missing_ok=True)  # _check deleted it
        sources = _sources(release, allowed)
        if not sources:
            raise WeightsUnavailable(_unavailable(release, allowed))
        problems = []
        for where, get in sources:
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
            try:
                file = get(staging, progress)
                if file is None:  # a mirror folder without this release
                    continue
                recorded = _check(release, file, where)
                os.replace(file, target)  # same folder: atomic
                if recorded:
                    _record_file(release).write_text(f"{recorded}  {release.file}  {where}\n")
                    warnings.warn(
                        f"{release.name}: no SHA-256 is pinned; recorded {recorded} from "
                        f"{where} (pin it in the release table: sha256=...)",
                        stacklevel=2,
                    )
                _say(log, f"{release.name}: {target} (from {where})")
                return target
            except WeightsRefused:
                raise
            except Exception as exc:  # one source down: try the next, report them all
                problems.append(f"{where}: {_first_line(exc)}")
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        if not problems:  # only a mirror folder, which lacks it
            raise WeightsUnavailable(_unavailable(release, allowed))
        raise WeightsUnavailable(
            f"{release.name}: could not fetch {release.file}:\n  " + "\n  ".join(problems)
        )


# -- internals -------------------------------------------------------------------------------
def _release(name: Release | str) -> Release:
    if isinstance(name, Release):
        return name
    if name not in RELEASES:
        known = ", ".join(sorted(RELEASES))
        raise KeyError(f"unknown release {name!r}; known: {known} (see `gefu weights list`)")
    return RELEASES[name]


def _record_file(release: Release) -> Path:
    return cached_path(release).with_name(Path(release.file).name + ".sha256")


def _relative(release: Release) -> str:
    return f"{release.name}/{Path(release.file).name}"  # the cache's and every mirror's layout


def _mirror_folder() -> Path | None:
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror or mirror.startswith(("http://", "https://")):
        return None
    return Path(mirror.removeprefix("file://")).expanduser()


def _sources(release: Release, allowed: bool) -> list[tuple[str, Callable]]:
    out: list[tuple[str, Callable]] = []
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    rel, folder = _relative(release), _mirror_folder()
    if folder is not None:
        out.append((str(folder / rel), lambda d, p: _copy_get(folder / rel, d)))
    elif mirror and allowed:
        mirror_url = f"{mirror.rstrip('/')}/{rel}"
        out.append((mirror_url, lambda d, p: _pooch_get(mirror_url, d, p)))
    if allowed and release.hub:
        repo_id, filename, revision = release.hub
        where = f"hf://{repo_id}/{filename}@{revision}"
        out.append((where, lambda d, p: _hub_get(repo_id, filename, revision, d)))
    elif allowed and release.download_url:
        url = release.download_url
        out.append((url, lambda d, p: _pooch_get(url, d, p)))
    return out


def _pooch_get(url: str, staging: Path, progress: bool | None) -> Path:
    import pooch

    fname = "download"
    pooch.get_logger().setLevel("WARNING")  # fetch() says where each file came from
    bar = bool(progress if progress is not None else os.isatty(2))
    store = pooch.create(
        path=staging,
        base_url="",
        registry={fname: None},
        urls={fname: url},
        retry_if_failed=RETRIES,
    )
    return Path(store.fetch(fname, downloader=pooch.HTTPDownloader(progressbar=bar, timeout=60)))


def _hub_get(repo_id: str, filename: str, revision: str, staging: Path) -> Path:
    from huggingface_hub import hf_hub_download

    kwargs = {"endpoint": HF_ENDPOINT} if HF_ENDPOINT else {}
    path = hf_hub_download(repo_id, filename, revision=revision, local_dir=staging, **kwargs)
    return Path(path)


def _copy_get(source: Path, staging: Path) -> Path | None:
    if not source.is_file():
        return None
    dest = staging / "download"
    shutil.copyfile(source, dest)
    return dest


def _check(release: Release, file: Path, where: str) -> str | None:
    """Refuses (deleting ``file``) an HTML page or a hash mismatch; returns the hash to record
    when none is pinned or recorded yet."""
    with open(file, "rb") as fh:
        head = fh.read(512).lstrip().lower()
    if head.startswith(_HTML_STARTS):
        file.unlink()
        raise WeightsRefused(
            f"{release.name}: {where} returned an HTML page (a login, quota or error page?), "
            f"not {release.file}; refused, nothing cached"
        )
    got, want = sha256_of(file), expected_sha256(release)
    if want and got != want:
        file.unlink()
        raise WeightsRefused(
            f"{release.name}: the file from {where} has SHA-256 {got}, expected {want}; "
            "refused and deleted, nothing cached"
        )
    return None if want else got


def _unavailable(release: Release, allowed: bool) -> str:
    target = cached_path(release)
    if not release.download_url and not release.hub:
        return (
            f"{release.name} has no download source: get {release.file} by hand from "
            f"{release.url} and put it at {target} (or give its path as weights)"
        )
    source = release.download_url or f"hf://{'/'.join(release.hub[:2])}"
    why = f"{OFFLINE_ENV}=1" if offline() else "--no-download"
    mirror = os.environ.get(MIRROR_ENV)
    seen = f"; not in the mirror {mirror} either" if mirror else ""
    return (
        f"{release.name} is not in the weights cache ({target}) and downloads are off "
        f"({why}){seen}: run `gefu weights fetch {release.name}` where {source} is reachable, "
        f"or set {MIRROR_ENV} to a folder holding {release.name}/{Path(release.file).name}"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _say(log: Callable[[str], None] | None, message: str) -> None:
    if log is not None:
        log(message)
