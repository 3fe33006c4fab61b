"""Datasets and weight files downloaded on demand, into the caches fastai and torchvision share.

:data:`SOURCES` is the one table of everything colorlab can fetch: the Imagenette, COCO-sample and
CIFAR-10 archives and every pretrained weight file the library loads. :func:`download` fetches
one of them with a progress bar::

    download("imagenette")     # -> ~/.fastai/data/imagenette2-160/ (train/, val/)
    download("resnet18")       # -> ~/.cache/torch/hub/checkpoints/resnet18-f37072fd.pth

* **Where**: datasets in fastai's data folder (``$FASTAI_HOME/data``, default ``~/.fastai/data``,
  or the ``data`` key of fastai's ``config.ini``), or in ``$COLORLAB_DATA`` when set; weights in
  the torch hub cache (``torch.hub.get_dir()/checkpoints``: ``$TORCH_HOME/hub/checkpoints``,
  default ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``). Files fetched by fastai or torchvision
  are found there, and theirs find ours. A complete archive already in fastai's archive folder
  (``~/.fastai/archive``) is extracted instead of downloaded.
* **Safely**: the download goes to a hidden temporary file beside the target and is checked
  (byte count against ``Content-Length``, then the size and hashes known for the file) before
  an archive is extracted (tar, tgz or zip; members with absolute paths, ``..`` or links leaving
  the archive are refused) into a temporary folder and renamed into place. A failed or
  interrupted download leaves nothing behind and raises :class:`DownloadError` naming the URL
  and what failed. A target already in place is returned at once, without any request.
* **Offline**: with ``COLORLAB_OFFLINE=1`` (tests and CI set it) every download is refused with
  :class:`OfflineError`, naming the URL, the file and where to put it.

This module needs only the standard library and tqdm (no torch), so ``colorlab data get`` and
:mod:`colorlab.io` can use it.
"""

from __future__ import annotations

import configparser
import contextlib
import difflib
import hashlib
import http.client
import os
import re
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Union

from tqdm.auto import tqdm

__all__ = [
    "OFFLINE_ENV",
    "DATA_ENV",
    "SOURCES",
    "Source",
    "DownloadError",
    "OfflineError",
    "download",
    "get_source",
    "weights_source",
    "is_offline",
    "is_complete",
    "target_path",
    "default_dir",
    "data_root",
    "fastai_home",
    "fastai_dir",
    "torch_hub_dir",
    "hash_prefix",
]

OFFLINE_ENV = "COLORLAB_OFFLINE"
"""Set to 1 (or true/yes/on) to refuse every download."""
DATA_ENV = "COLORLAB_DATA"
"""The folder datasets are downloaded to and looked for in, instead of fastai's data folder."""
TIMEOUT_S = 60.0
"""Seconds a connection may stay silent before the download is given up."""
_CHUNK = 1 << 20
_HEAD = 1 << 20  # fastai checks the md5 of an archive's first MiB

PathLike = Union[str, os.PathLike]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
class DownloadError(OSError):
    """A download failed (the message names the URL and what failed); nothing was kept."""

    def __init__(self, message: str, *, url: str | None = None, target: Path | None = None):
        super().__init__(message)
        self.url = url
        self.target = target

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class OfflineError(DownloadError, FileNotFoundError):
    """``COLORLAB_OFFLINE=1`` refused a download; the message says what to put where."""


# --------------------------------------------------------------------------------------------
# The sources
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """One downloadable file: a dataset archive (``kind="dataset"``) or a weight file.

    ``size`` (bytes), ``md5``, ``sha256`` (a full digest or a prefix, as in torchvision's file
    names) and ``head_md5`` (md5 of the first MiB, fastai's own check) are verified when given.
    A dataset is extracted to a folder named ``folder``; it is complete when every path of
    ``members`` exists in it. ``fastai_archive``: fastai keeps this archive in its archive
    folder (a complete copy there is extracted instead of downloaded).
    """

    name: str
    url: str
    filename: str
    kind: str
    description: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    head_md5: str | None = None
    folder: str | None = None
    members: tuple[str, ...] = ()
    fastai_archive: bool = False

    @property
    def target_name(self) -> str:
        """The name of what ends up on disk: the dataset folder or the weight file."""
        return (self.folder or self.filename) if self.kind == "dataset" else self.filename


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix in a torchvision-style name (``resnet18-f37072fd.pth`` -> ``f37072fd``)."""
    match = re.search(r"-([0-9a-f]{8,64})\.[^.-]+$", filename)
    return match.group(1) if match else None


def _weights(name: str, url: str, description: str, filename: str | None = None) -> Source:
    filename = filename or url.rsplit("/", 1)[-1]
    return Source(name, url, filename, "weights", description, sha256=hash_prefix(filename))


_CIFAR10_MEMBERS = (
    *(f"data_batch_{i}" for i in range(1, 6)),
    "test_batch",
    "batches.meta",
)

#: Everything colorlab can download, by name.
SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "imagenette",
            "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz",
            "imagenette2-160.tgz",
            "dataset",
            "Imagenette 160 px",  # fastai URLs.IMAGENETTE_160: 10 classes, 9,469 + 3,925 images
            size=99_003_388,
            head_md5="c475f8f7617a200ba35b9facc48443c3",
            folder="imagenette2-160",
            members=("train", "val"),
            fastai_archive=True,
        ),
        Source(
            "coco_sample",
            "https://s3.amazonaws.com/fast-ai-coco/coco_sample.tgz",
            "coco_sample.tgz",
            "dataset",
            "fastai's COCO sample",  # URLs.COCO_SAMPLE (seed 002): about 22,000 images
            size=3_245_877_008,
            head_md5="006cd55d633d94b36ecaf661467830ec",
            folder="coco_sample",
            members=("train_sample",),
            fastai_archive=True,
        ),
        Source(
            "cifar10",
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "cifar-10-python.tar.gz",
            "dataset",
            "CIFAR-10",  # torchvision's python version (seed 003): 50,000 + 10,000 images
            size=170_498_071,
            md5="c58f30108f718f92721af3b95e74349a",
            folder="cifar-10-batches-py",
            members=_CIFAR10_MEMBERS,
        ),
        _weights(
            "resnet18",
            "https://download.pytorch.org/models/resnet18-f37072fd.pth",
            "torchvision ResNet18 (ImageNet)",
        ),
        _weights(
            "alexnet",
            "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            "torchvision AlexNet (ImageNet)",
        ),
        _weights(
            "lpips_alex",
            "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/"
            "alex.pth",
            "LPIPS v0.1 AlexNet linear-layer",
            filename="lpips_alex_v0.1.pth",
        ),
        _weights(
            "inception_v3",
            "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
            "torchvision InceptionV3 (ImageNet)",
        ),
    )
}


def get_source(name_or_source: str | Source) -> Source:
    """The :class:`Source` named ``name_or_source`` (a :class:`Source` is returned as is)."""
    if isinstance(name_or_source, Source):
        return name_or_source
    if name_or_source not in SOURCES:
        close = difflib.get_close_matches(str(name_or_source), sorted(SOURCES), n=2)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise ValueError(
            f"nothing named {name_or_source!r} to download; {hint}known: {', '.join(SOURCES)}"
        )
    return SOURCES[name_or_source]


def weights_source(filename: str, url: str, description: str) -> Source:
    """The :class:`Source` of a weight file: the registered one of that name (at ``url``), else
    one whose sha256 prefix is read from the file name (torchvision's convention)."""
    for source in SOURCES.values():
        if source.kind == "weights" and source.filename == filename:
            return replace(source, url=url, description=description)
    return Source(filename, url, filename, "weights", description, sha256=hash_prefix(filename))


# --------------------------------------------------------------------------------------------
# Where things go
# --------------------------------------------------------------------------------------------
def is_offline() -> bool:
    """Whether ``$COLORLAB_OFFLINE`` forbids downloads (``1``, ``true``, ``yes`` or ``on``)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def fastai_home() -> Path:
    """fastai's home folder: ``$FASTAI_HOME``, default ``~/.fastai``."""
    return Path(os.environ.get("FASTAI_HOME") or "~/.fastai").expanduser().absolute()


def fastai_dir(key: str) -> Path:
    """A folder of fastai's config (``"data"``, ``"archive"``): ``config.ini`` if it names it
    (relative to fastai's home), else ``<fastai home>/<key>``. The file is only read."""
    home = fastai_home()
    value = key
    ini = home / "config.ini"
    if ini.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        with contextlib.suppress(configparser.Error, OSError, UnicodeDecodeError):
            parser.read(ini, encoding="utf8")
            value = parser["DEFAULT"].get(key, key) or key
    return home / Path(value).expanduser()


def data_root() -> Path:
    """Where datasets go: ``$COLORLAB_DATA`` when set, else fastai's data folder."""
    override = os.environ.get(DATA_ENV, "").strip()
    return Path(override).expanduser().absolute() if override else fastai_dir("data")


def torch_hub_dir() -> Path:
    """``torch.hub.get_dir()``, computed without importing torch.

    If torch is already imported its answer is used (it honours ``torch.hub.set_dir``); else
    ``$TORCH_HOME/hub``, with ``TORCH_HOME`` defaulting to ``$XDG_CACHE_HOME/torch`` and that to
    ``~/.cache/torch``, as torch computes it.
    """
    torch = sys.modules.get("torch")
    hub = getattr(torch, "hub", None)
    if hub is not None and hasattr(hub, "get_dir"):
        return Path(hub.get_dir())
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    home = os.environ.get("TORCH_HOME") or os.path.join(cache, "torch")
    return Path(home).expanduser() / "hub"


def default_dir(source: Source) -> Path:
    """The folder ``source`` goes into by default: :func:`data_root` or the hub checkpoints."""
    return data_root() if source.kind == "dataset" else torch_hub_dir() / "checkpoints"


def target_path(name_or_source: str | Source, dest: PathLike | None = None) -> Path:
    """Where :func:`download` puts ``name_or_source``: ``dest`` (or the default folder) / name."""
    source = get_source(name_or_source)
    folder = Path(dest).expanduser() if dest is not None else default_dir(source)
    return folder / source.target_name


def is_complete(source: Source, target: Path) -> bool:
    """Whether ``target`` holds ``source``: a dataset folder with every member, a weight file."""
    if source.kind != "dataset":
        return target.is_file() and target.stat().st_size > 0
    return target.is_dir() and all((target / m).exists() for m in source.members)


# --------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------
class _Digests:
    """The byte count and the hashes of a stream, updated chunk by chunk."""

    def __init__(self) -> None:
        self.size = 0
        self.md5, self.sha256, self.head = hashlib.md5(), hashlib.sha256(), hashlib.md5()

    def update(self, chunk: bytes) -> None:
        if self.size < _HEAD:
            self.head.update(chunk[: _HEAD - self.size])
        self.size += len(chunk)
        self.md5.update(chunk)
        self.sha256.update(chunk)

    @classmethod
    def of_file(cls, path: Path) -> _Digests:
        digests = cls()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digests.update(chunk)
        return digests


def _mismatch(source: Source, got: _Digests) -> str | None:
    """What about ``got`` contradicts ``source`` (size first), or ``None``."""
    if source.size is not None and got.size != source.size:
        return f"size mismatch: {got.size:,} bytes, expected {source.size:,}"
    checks = (
        ("md5", source.md5, got.md5.hexdigest()),
        ("sha256", source.sha256, got.sha256.hexdigest()),
        ("md5 of the first MiB", source.head_md5, got.head.hexdigest()),
    )
    for what, expected, actual in checks:
        if expected and not actual.startswith(expected.lower()):
            return f"{what} mismatch: {actual[: max(8, len(expected))]}, expected {expected}"
    return None


def _cached_archive(source: Source) -> tuple[Path | None, str]:
    """A verified copy of the archive in fastai's archive folder, or ``(None, why not)``."""
    if not source.fastai_archive:
        return None, ""
    path = fastai_dir("archive") / source.filename
    if not path.is_file():
        return None, ""
    if source.size is not None and path.stat().st_size != source.size:
        return None, (
            f" (ignoring the incomplete archive {path}: {path.stat().st_size:,} of "
            f"{source.size:,} bytes)"
        )
    problem = _mismatch(source, _Digests.of_file(path))
    return (None, f" (ignoring {path}: {problem})") if problem else (path, "")


def _offline_error(source: Source, target: Path, note: str) -> OfflineError:
    if source.kind == "dataset":
        what = (
            f"extract it so that {target} holds {', '.join(source.members)}"
            if source.members
            else f"extract it into {target}"
        )
    else:
        what = f"save it as {target}"
    if source.fastai_archive:
        what += f" (or copy the archive into {fastai_dir('archive')}: it is extracted from there)"
    return OfflineError(
        f"{OFFLINE_ENV}=1: not downloading {source.description} from {source.url}{note}. "
        f"Get {source.filename} on a machine with internet ('colorlab data get {source.name}' "
        f"or any browser) and {what}; or unset {OFFLINE_ENV}.",
        url=source.url,
        target=target,
    )


def _fetch(source: Source, tmp: Path, progress: bool) -> None:
    """Stream ``source.url`` into ``tmp`` with a progress bar and check what arrived."""
    request = urllib.request.Request(source.url, headers={"User-Agent": "colorlab"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(tmp, "wb") as out:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else source.size
        got = _Digests()
        with tqdm(
            total=expected,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=source.filename,
            disable=not progress,
            file=sys.stderr,
            dynamic_ncols=True,
        ) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                got.update(chunk)
                bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    if length and length.isdigit() and got.size != int(length):
        raise _Failed(f"the connection closed after {got.size:,} of {int(length):,} bytes")
    problem = _mismatch(source, got)
    if problem:
        raise _Failed(f"the downloaded file is corrupt or not the expected one ({problem})")


class _Failed(Exception):
    """An internal failure: what went wrong, to be worded as a :class:`DownloadError`."""


def _describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP error {err.code} ({err.reason})"
    if isinstance(err, urllib.error.URLError):
        return f"cannot connect ({err.reason})"
    if isinstance(err, _Failed):
        return str(err)
    return f"{type(err).__name__}: {err}"


# --------------------------------------------------------------------------------------------
# Extracting
# --------------------------------------------------------------------------------------------
def _unsafe(name: str) -> bool:
    """Whether an archive member's path is absolute or climbs out (``..``)."""
    text = name.replace("\\", "/")
    path = PurePosixPath(text)
    return path.is_absolute() or ".." in path.parts or bool(re.match(r"^[A-Za-z]:", text))


def _tar_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        if _unsafe(m.name):
            raise _Failed(f"refusing archive member {m.name!r}: absolute path or '..'")
        if m.issym() or m.islnk():  # a hard link names a member; a symlink is relative to it
            base = os.path.dirname(m.name) if m.issym() else ""
            link = os.path.normpath(os.path.join(base, m.linkname.replace("\\", "/")))
            if m.linkname.startswith(("/", "\\")) or _unsafe(link):
                raise _Failed(f"refusing archive member {m.name!r}: link leaving the archive")
        elif not (m.isfile() or m.isdir()):
            raise _Failed(f"refusing archive member {m.name!r}: not a file or folder")
    return members


def _unpack(archive: Path, into: Path) -> None:
    """Extract ``archive`` (zip, tar, tar.gz/bz2/xz) into the folder ``into``, safely."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    if _unsafe(name):
                        raise _Failed(f"refusing archive member {name!r}: absolute path or '..'")
                zf.extractall(into)
            return
        with tarfile.open(archive, "r:*") as tar:
            members = _tar_members(tar)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.11.4
                tar.extractall(into, members=members)
    except _Failed:
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as err:
        raise _Failed(f"the archive is truncated or corrupt ({type(err).__name__}: {err})") from err


def _install_folder(source: Source, archive: Path, target: Path, progress: bool) -> None:
    """Extract ``archive`` beside ``target`` and rename its content to ``target``."""
    work = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.extract"
    work.mkdir()
    try:
        if progress:
            print(f"extracting {archive.name} to {target}", file=sys.stderr)
        _unpack(archive, work)
        entries = list(work.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else work
        missing = [m for m in source.members if not (root / m).exists()]
        if missing:
            raise _Failed(f"the archive lacks {', '.join(missing)}")
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()  # an empty folder (made by hand) is replaced
        os.rename(root, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``folder`` so that processes do not download into it at once.

    Yields whether the lock is held: best effort, ``False`` where the platform or file system
    (Windows, some network mounts) offers no lock on a folder.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield False
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - a folder that cannot be opened for reading
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = True
        except OSError:  # pragma: no cover - e.g. NFS without flock on folders
            held = False
        yield held
    finally:
        os.close(fd)  # releases the lock


def _remove_stale(source: Source, target: Path) -> None:
    """Remove what a killed download of ``source`` left beside ``target`` (call under the lock:
    no live download is writing them then)."""
    for pattern in (f".{source.filename}.*.part", f".{target.name}.*.extract"):
        for path in target.parent.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()


# --------------------------------------------------------------------------------------------
# download()
# --------------------------------------------------------------------------------------------
def download(
    name_or_source: str | Source,
    *,
    dest: PathLike | None = None,
    url: str | None = None,
    progress: bool = True,
) -> Path:
    """Download ``name_or_source`` (a key of :data:`SOURCES` or a :class:`Source`) if needed.

    Returns the dataset folder or the weight file: ``dest`` (default: :func:`default_dir`) /
    ``source.target_name``. ``url`` fetches the same file from a mirror (the size and hashes
    are still checked). ``progress`` shows a tqdm bar on stderr.

    Raises:
        OfflineError: ``$COLORLAB_OFFLINE`` is set and the target is not there.
        DownloadError: the download, its checks or the extraction failed (nothing is kept).
        ValueError: an unknown name.
    """
    source = get_source(name_or_source)
    if url:
        source = replace(source, url=url)
    target = target_path(source, dest)
    if is_complete(source, target):
        return target
    cached, note = _cached_archive(source)
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        lacks = [m for m in source.members if not (target / m).exists()]
        raise DownloadError(
            f"{target} exists but is not a complete {source.description} "
            f"({'it lacks ' + ', '.join(lacks) if lacks else 'an empty file'}); move it away "
            "and try again",
            url=source.url,
            target=target,
        )
    if cached is None and is_offline():
        raise _offline_error(source, target, note)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent) as held:
        if is_complete(source, target):  # another process got it meanwhile
            return target
        if held:
            _remove_stale(source, target)
        _install(source, target, cached, progress, note)
    return target


def _install(
    source: Source, target: Path, cached: Path | None, progress: bool, note: str = ""
) -> None:
    """Fetch (unless ``cached``) and put ``source`` in place at ``target``, or raise (``note``:
    what the error should add, e.g. an ignored incomplete archive)."""
    tmp = target.parent / f".{source.filename}.{uuid.uuid4().hex[:12]}.part"
    where = source.url if cached is None else str(cached)
    try:
        if cached is None:
            if progress:
                print(f"downloading {source.url} to {target}", file=sys.stderr)
            _fetch(source, tmp, progress)
        if source.kind == "dataset":
            _install_folder(source, cached or tmp, target, progress)
        else:
            os.replace(tmp, target)
    except (_Failed, OSError, http.client.HTTPException) as err:
        raise DownloadError(
            f"could not get {source.description} from {where}{note}: {_describe(err)}. "
            f"Nothing was kept; {target} is unchanged.",
            url=source.url,
            target=target,
        ) from err
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
