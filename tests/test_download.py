"""colorlab.download against a loopback HTTP server: real archives, real failures, offline mode.

Every request goes to a ``ThreadingHTTPServer`` on 127.0.0.1 started here; a guard on
``socket.connect`` fails any test that tries to reach another host.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import os
import pickle
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorlab import data as D
from colorlab import download as dl
from colorlab import io as cio
from colorlab import metrics
from colorlab.cli import main
from colorlab.config import TrainConfig, get_preset
from colorlab.models import resnet_unet
from colorlab.train import train

WNIDS = ("n01440764", "n02102040")  # tench, English springer: two of Imagenette's ten


# --------------------------------------------------------------------------------------------
# The archives, in the real layouts
# --------------------------------------------------------------------------------------------
def _photo(seed: int, size: tuple[int, int] = (213, 160), gray: bool = False) -> bytes:
    """A JPEG that looks like a photo: smooth colour gradients, a blob and sensor noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    base = rng.uniform(40, 200, 3)
    slope = rng.uniform(-120, 120, (2, 3))
    img = base + x[..., None] * slope[0] + y[..., None] * slope[1]
    cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)
    blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / r**2)[..., None]
    img = img * (1 - blob) + rng.uniform(0, 255, 3) * blob + rng.normal(0, 4, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if gray:
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(img).save(out, "JPEG", quality=85)
    return out.getvalue()


def _tgz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name in sorted({str(Path(n).parent) for n in files} - {"."}):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(payload), 0o644
            tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


def imagenette_tgz() -> tuple[bytes, dict]:
    """imagenette2-160.tgz: train/<wnid>/*.JPEG (one grayscale), val/<wnid>/*.JPEG, the csv."""
    files, counts = {}, {"train": 0, "val": 0, "gray": 0}
    for c, wnid in enumerate(WNIDS):
        for part, n in (("train", 4), ("val", 2)):
            for i in range(n):
                gray = part == "train" and c == 1 and i == 0  # Imagenette holds a few
                name = f"imagenette2-160/{part}/{wnid}/{wnid}_{1000 * c + i + 10 * n}.JPEG"
                files[name] = _photo(100 * c + 10 * i + n, gray=gray)
                counts[part] += 1
                counts["gray"] += gray
    files["imagenette2-160/noisy_imagenette.csv"] = b"path,noisy_labels_0,is_valid\n"
    return _tgz(files), counts


def coco_tgz(n: int = 6) -> bytes:
    files = {
        f"coco_sample/train_sample/{100000 + 7 * i:012d}.jpg": _photo(500 + i, (200, 160))
        for i in range(n)
    }
    files["coco_sample/annotations/train_sample.json"] = json.dumps({"images": []}).encode()
    return _tgz(files)


def cifar_tgz(per_batch: int = 3) -> bytes:
    """cifar-10-python.tar.gz: the python pickles (str keys, as Python 2 wrote them)."""
    rng = np.random.default_rng(3)

    def batch(label: str, n: int) -> bytes:
        entry = {
            "batch_label": label,
            "labels": [int(v) for v in rng.integers(0, 10, n)],
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"img_{i}.png" for i in range(n)],
        }
        return pickle.dumps(entry, protocol=2)

    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship"]
    files = {f"cifar-10-batches-py/data_batch_{i}": batch(f"batch {i}", per_batch) for i in (1, 2)}
    files.update(
        {f"cifar-10-batches-py/data_batch_{i}": batch(f"b{i}", per_batch) for i in (3, 4, 5)}
    )
    files["cifar-10-batches-py/test_batch"] = batch("testing batch 1 of 1", per_batch)
    meta = {"num_cases_per_batch": per_batch, "label_names": [*names, "truck"], "num_vis": 3072}
    files["cifar-10-batches-py/batches.meta"] = pickle.dumps(meta, protocol=2)
    files["cifar-10-batches-py/readme.html"] = b"<html></html>"
    return _tgz(files)


def weights_bytes() -> tuple[bytes, str]:
    """A small state dict saved by torch and its torchvision-style name (sha256 prefix)."""
    buf = io.BytesIO()
    torch.save({"layer.weight": torch.arange(6.0).reshape(2, 3)}, buf)
    payload = buf.getvalue()
    return payload, f"tiny-{hashlib.sha256(payload).hexdigest()[:8]}.pth"


# --------------------------------------------------------------------------------------------
# The loopback server
# --------------------------------------------------------------------------------------------
class Server:
    """Files by URL path; ``requests`` lists every path asked for. A route is bytes, an int
    (that HTTP status) or ``("drop", bytes, claimed_length)`` (sends part, then closes)."""

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.requests: list[str] = []
        routes, requests = self.routes, self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                requests.append(self.path)
                route = routes.get(self.path, 404)
                if isinstance(route, int):
                    self.send_error(route)
                    return
                body, length = (route[1], route[2]) if isinstance(route, tuple) else (route, None)
                self.send_response(200)
                self.send_header("Content-Length", str(length or len(body)))
                self.end_headers()
                self.wfile.write(body)
                if length:  # the connection drops mid-file
                    self.wfile.flush()
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def add(self, path: str, route: object) -> str:
        self.routes[path] = route
        return self.url(path)


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Empty caches in tmp_path, downloads allowed, no proxy, and no host but 127.0.0.1."""
    monkeypatch.setenv("FASTAI_HOME", str(tmp_path / "fastai"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in (dl.DATA_ENV, dl.OFFLINE_ENV, "http_proxy", "HTTP_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    connect = socket.socket.connect

    def loopback_only(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            assert address[0] in ("127.0.0.1", "::1"), f"a test tried to reach {address}"
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    return tmp_path


def _source(name: str, payload: bytes, url: str, **checks) -> dl.Source:
    """The registered source ``name`` with the checks of the test archive ``payload``."""
    checks = {"size": len(payload), "md5": None, "head_md5": None, **checks}
    return dataclasses.replace(dl.SOURCES[name], url=url, **checks)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------------------------
# The registry and the default locations
# --------------------------------------------------------------------------------------------
def test_every_loadable_weights_file_is_registered_with_its_hash():
    files = [
        metrics.ALEXNET_WEIGHTS,
        metrics.LPIPS_LINEAR_WEIGHTS,
        metrics.INCEPTION_V3_WEIGHTS,
        resnet_unet.RESNET18_WEIGHTS,
    ]
    for w in files:
        source = w.source()
        assert dl.SOURCES[source.name].filename == w.filename and source.url == w.url
    assert dl.SOURCES["resnet18"].url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert dl.SOURCES["resnet18"].sha256 == "f37072fd"
    assert dl.SOURCES["inception_v3"].sha256 == "0cc3c7bd"
    assert dl.SOURCES["alexnet"].sha256 == "7be5be79" and dl.SOURCES["lpips_alex"].sha256 is None
    assert dl.SOURCES["cifar10"].md5 == "c58f30108f718f92721af3b95e74349a"
    assert dl.SOURCES["imagenette"].url.endswith("/fast-ai-imageclas/imagenette2-160.tgz")
    assert D.COCO_SAMPLE_URL == dl.SOURCES["coco_sample"].url
    assert dl.SOURCES["coco_sample"].size == 3_245_877_008
    assert dl.hash_prefix("alexnet-owt-7be5be79.pth") == "7be5be79"
    with pytest.raises(ValueError, match="did you mean imagenette"):
        dl.get_source("imagenet")


def test_default_locations_follow_fastai_and_torch(tmp_path, monkeypatch):
    assert dl.target_path("imagenette") == tmp_path / "fastai" / "data" / "imagenette2-160"
    assert dl.target_path("cifar10") == tmp_path / "fastai" / "data" / "cifar-10-batches-py"
    hub = Path(torch.hub.get_dir())
    assert hub == tmp_path / "torch" / "hub"
    assert dl.target_path("resnet18") == hub / "checkpoints" / "resnet18-f37072fd.pth"
    assert resnet_unet.resnet18_weights_path() == dl.target_path("resnet18")
    # fastai's config.ini moves its data folder (relative to fastai's home)
    (tmp_path / "fastai").mkdir()
    (tmp_path / "fastai" / "config.ini").write_text("[DEFAULT]\ndata = elsewhere\n")
    assert dl.data_root() == tmp_path / "fastai" / "elsewhere"
    monkeypatch.setenv(dl.DATA_ENV, str(tmp_path / "mine"))
    assert dl.target_path("coco_sample") == tmp_path / "mine" / "coco_sample"


def test_the_hub_dir_is_torchs_without_importing_torch(tmp_path):
    script = (
        "import sys, colorlab.download as d; assert 'torch' not in sys.modules; "
        "print(d.torch_hub_dir()); import torch; print(torch.hub.get_dir())"
    )
    for env in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}):
        clean = {k: v for k, v in os.environ.items() if k not in ("TORCH_HOME", "XDG_CACHE_HOME")}
        out = subprocess.run(
            [sys.executable, "-c", script],
            env={**clean, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert out[0] == out[1] and out[0].startswith(str(tmp_path))


# --------------------------------------------------------------------------------------------
# Imagenette: download, check, extract, once; then train on it
# --------------------------------------------------------------------------------------------
def test_imagenette_downloads_extracts_once_and_trains(server, tmp_path, capsys):
    payload, counts = imagenette_tgz()
    url = server.add("/imagenette2-160.tgz", payload)
    head = hashlib.md5(payload[: 1 << 20]).hexdigest()
    source = _source("imagenette", payload, url, head_md5=head)
    dest = tmp_path / "datasets"

    folder = dl.download(source, dest=dest)
    assert folder == dest / "imagenette2-160" and _leftovers(dest) == ["imagenette2-160"]
    assert sorted(p.name for p in (folder / "train").iterdir()) == list(WNIDS)
    assert len(list(folder.glob("val/*/*.JPEG"))) == counts["val"]
    err = capsys.readouterr().err
    assert "imagenette2-160.tgz" in err and "100%" in err and f"downloading {url}" in err
    assert dl.download(source, dest=dest, progress=False) == folder  # no second request
    assert server.requests == ["/imagenette2-160.tgz"]

    cfg = get_preset("imagenette", "full").replace(
        data_dir=str(folder),
        image_size=32,
        batch_size=2,
        max_steps=2,
        log_every=1,
        checkpoint_every=0,
        generator_kwargs={"num_downs": 5, "ngf": 8},
        discriminator_kwargs={"n_layers": 2, "ndf": 8},
        num_workers=0,
    )
    with pytest.warns(D.DataWarning, match="dropped 1 grayscale images of 8"):
        tr, va, te = D.make_datasets(cfg)
    assert (len(tr), len(va) + len(te)) == (counts["train"] - counts["gray"], counts["val"])
    assert not set(map(str, va.images)) & set(map(str, te.images))
    with pytest.warns(D.DataWarning, match="grayscale"):
        history = train(cfg, tmp_path / "run", progress=False)
    assert len(history["g_loss"]) == 2 and np.isfinite(history["g_loss"]).all()
    assert (tmp_path / "run" / "last.pt").is_file()
    assert server.requests == ["/imagenette2-160.tgz"]


def test_imagenette_default_cache_is_fastais_and_fastai_finds_it(server, tmp_path, monkeypatch):
    payload, counts = imagenette_tgz()
    url = server.add("/imagenette2-160.tgz", payload)
    monkeypatch.setitem(dl.SOURCES, "imagenette", _source("imagenette", payload, url))
    folder = D.imagenette()  # data_dir=None: the default cache, on demand
    assert folder == tmp_path / "fastai" / "data" / "imagenette2-160"
    assert D.imagenette(tmp_path / "fastai" / "data") == folder  # the parent is fine too
    cfg = TrainConfig(dataset="imagenette", image_size=32, n_images=3, n_classes=2)
    with pytest.warns(D.DataWarning, match="grayscale"):
        tr, va, te = D.make_datasets(cfg)
    assert len(tr) == 3 and tr.classes == list(WNIDS) and len(tr[0]) == 3  # (L, ab, label)
    assert server.requests == ["/imagenette2-160.tgz"]

    import fastai.data.external as external  # fastai finds our copy without downloading

    external.fastai_cfg.cache_clear()
    try:
        assert external.untar_data(external.URLs.IMAGENETTE_160) == folder
    finally:
        external.fastai_cfg.cache_clear()
    assert len(server.requests) == 1


def test_a_complete_archive_in_fastais_archive_folder_is_extracted_without_a_request(
    server, tmp_path, monkeypatch
):
    payload, _ = imagenette_tgz()
    url = server.add("/imagenette2-160.tgz", payload)
    monkeypatch.setitem(dl.SOURCES, "imagenette", _source("imagenette", payload, url))
    (tmp_path / "fastai" / "archive").mkdir(parents=True)
    (tmp_path / "fastai" / "archive" / "imagenette2-160.tgz").write_bytes(payload)
    monkeypatch.setenv(dl.OFFLINE_ENV, "1")  # no network needed
    assert (dl.download("imagenette") / "val" / WNIDS[0]).is_dir()
    assert server.requests == []


def test_two_processes_asking_at_once_download_once(server, tmp_path):
    payload, _ = imagenette_tgz()
    source = _source("imagenette", payload, server.add("/i.tgz", payload))
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(dl.download(source, progress=False)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(set(results)) == 1 and len(results) == 3 and server.requests == ["/i.tgz"]


def test_what_a_killed_download_left_is_removed_by_the_next(server, tmp_path):
    payload, _ = imagenette_tgz()
    source = _source("imagenette", payload, server.add("/i.tgz", payload))
    dest = tmp_path / "d"
    (dest / ".imagenette2-160.0123456789ab.extract" / "train").mkdir(parents=True)
    (dest / ".imagenette2-160.tgz.0123456789ab.part").write_bytes(payload[:100])
    (dest / "other.txt").write_text("not ours")
    dl.download(source, dest=dest, progress=False)
    assert _leftovers(dest) == ["imagenette2-160", "other.txt"]


# --------------------------------------------------------------------------------------------
# COCO sample and CIFAR-10 through colorlab.data
# --------------------------------------------------------------------------------------------
def test_coco_sample_is_downloaded_on_demand(server, tmp_path, monkeypatch):
    payload = coco_tgz(6)
    url = server.add("/coco_sample.tgz", payload)
    monkeypatch.setitem(dl.SOURCES, "coco_sample", _source("coco_sample", payload, url))
    train_paths, val_paths = D.coco_sample(n=5, n_train=4)
    folder = tmp_path / "fastai" / "data" / "coco_sample" / "train_sample"
    assert {p.parent for p in train_paths + val_paths} == {folder}
    assert len(set(train_paths + val_paths)) == 5
    assert (folder.parent / "annotations" / "train_sample.json").is_file()
    assert D.coco_sample(n=5, n_train=4) == (train_paths, val_paths)
    assert len(server.requests) == 1
    with pytest.raises(D.DatasetUnavailableError, match="coco_sample"):
        D.coco_sample(data_dir=tmp_path / "elsewhere", download=False)
    assert len(server.requests) == 1


def test_cifar10_downloads_torchvisions_layout(server, tmp_path, monkeypatch):
    import torchvision.datasets.cifar

    payload = cifar_tgz(per_batch=3)
    url = server.add("/cifar-10-python.tar.gz", payload)
    source = _source("cifar10", payload, url, md5=hashlib.md5(payload).hexdigest())
    monkeypatch.setitem(dl.SOURCES, "cifar10", source)
    # torchvision checks the md5 of each file of the real set: ours are smaller stand-ins
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    ds = D.cifar10(tmp_path / "cifar")
    assert (tmp_path / "cifar" / "cifar-10-batches-py" / "test_batch").is_file()
    assert len(ds) == 15 and ds.classes[-1] == "truck" and len(ds[0]) == 3
    assert len(D.cifar10(tmp_path / "cifar", train=False)) == 3
    assert len(server.requests) == 1
    cfg = TrainConfig(dataset="cifar10", image_size=32, split="80/10/10")  # default cache
    tr, va, te = D.make_datasets(cfg)
    assert (len(tr), len(va), len(te)) == (12, 3, 3) and len(server.requests) == 2


# --------------------------------------------------------------------------------------------
# Failures leave nothing behind and say what failed
# --------------------------------------------------------------------------------------------
def test_a_truncated_archive_is_refused_and_nothing_is_kept(server, tmp_path):
    payload, _ = imagenette_tgz()
    cut = payload[: len(payload) // 2]
    url = server.add("/cut.tgz", cut)
    dest = tmp_path / "d"
    with pytest.raises(dl.DownloadError, match="size mismatch") as info:
        dl.download(_source("imagenette", payload, url), dest=dest)
    assert url in str(info.value) and _leftovers(dest) == []
    # without a known size the extraction finds the damage
    with pytest.raises(dl.DownloadError, match="truncated or corrupt") as info:
        dl.download(_source("imagenette", payload, url, size=None), dest=dest)
    assert url in str(info.value) and _leftovers(dest) == []


def test_an_incomplete_folder_in_the_way_is_left_alone(server, tmp_path):
    payload, _ = imagenette_tgz()
    source = _source("imagenette", payload, server.add("/i.tgz", payload))
    (tmp_path / "d" / "imagenette2-160" / "train").mkdir(parents=True)
    (tmp_path / "d" / "imagenette2-160" / "train" / "mine.txt").write_text("keep")
    with pytest.raises(dl.DownloadError, match=r"not a complete Imagenette 160 px \(it lacks val"):
        dl.download(source, dest=tmp_path / "d")
    assert server.requests == [] and _leftovers(tmp_path / "d" / "imagenette2-160") == ["train"]
    (tmp_path / "e" / "imagenette2-160").mkdir(parents=True)  # an empty folder is filled
    assert (dl.download(source, dest=tmp_path / "e", progress=False) / "val").is_dir()


def test_http_404_names_the_url(server, tmp_path):
    url = server.url("/nothing-here.tgz")
    with pytest.raises(dl.DownloadError, match="HTTP error 404") as info:
        dl.download(_source("coco_sample", b"", url, size=None), dest=tmp_path / "d")
    assert url in str(info.value) and _leftovers(tmp_path / "d") == []
    assert not isinstance(info.value, dl.OfflineError)


def test_a_connection_dropped_mid_file_keeps_nothing(server, tmp_path):
    payload, name = weights_bytes()
    url = server.add(f"/{name}", ("drop", payload[:1000], len(payload)))
    source = dl.weights_source(name, url, "tiny test")
    with pytest.raises(dl.DownloadError, match=f"closed after 1,000 of {len(payload):,} bytes"):
        dl.download(source, dest=tmp_path / "hub")
    assert _leftovers(tmp_path / "hub") == []


def test_a_hash_mismatch_keeps_nothing(server, tmp_path):
    payload, _ = weights_bytes()
    url = server.add("/tiny-deadbeef.pth", payload)
    with pytest.raises(dl.DownloadError, match="sha256 mismatch.*expected deadbeef"):
        dl.download(dl.weights_source("tiny-deadbeef.pth", url, "tiny"), dest=tmp_path / "hub")
    assert _leftovers(tmp_path / "hub") == []


def _tar_with(member: tarfile.TarInfo, payload: bytes = b"x") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        tar.addfile(member, io.BytesIO(payload) if member.isfile() else None)
    return out.getvalue()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "zip"])
def test_archive_members_leaving_the_folder_are_refused(server, tmp_path, kind):
    if kind == "zip":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr("../../evil.txt", "x")
        payload = out.getvalue()
    else:
        name = {"dotdot": "data/../../evil.txt", "absolute": "/tmp/evil.txt"}.get(kind, "link")
        info = tarfile.TarInfo(name)
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        else:
            info.size = 1
        payload = _tar_with(info)
    url = server.add("/evil.tgz", payload)
    source = dataclasses.replace(dl.SOURCES["coco_sample"], url=url, size=None, head_md5=None)
    with pytest.raises(dl.DownloadError, match="refusing archive member"):
        dl.download(source, dest=tmp_path / "d" / "e")
    assert _leftovers(tmp_path / "d" / "e") == [] and not (tmp_path / "evil.txt").exists()


# --------------------------------------------------------------------------------------------
# Weights through colorlab.io.WeightsFile
# --------------------------------------------------------------------------------------------
def test_weights_file_downloads_into_the_hub_cache_once(server, tmp_path):
    payload, name = weights_bytes()
    weights = cio.WeightsFile(name, server.add(f"/{name}", payload), "tiny test")
    state = weights.load()
    assert torch.equal(state["layer.weight"], torch.arange(6.0).reshape(2, 3))
    assert weights.default_path() == tmp_path / "torch" / "hub" / "checkpoints" / name
    assert weights.default_path().read_bytes() == payload
    weights.load()
    assert server.requests == [f"/{name}"]


def test_pretrained_resnet18_never_falls_back_to_random_weights(server, tmp_path, monkeypatch):
    payload, _ = weights_bytes()  # not the file whose sha256 starts with f37072fd
    url = server.add("/resnet18-f37072fd.pth", payload)
    wrong = dataclasses.replace(resnet_unet.RESNET18_WEIGHTS, url=url)
    monkeypatch.setattr(resnet_unet, "RESNET18_WEIGHTS", wrong)
    with pytest.raises(resnet_unet.PretrainedWeightsMissing, match="sha256 mismatch") as info:
        resnet_unet.resnet18_imagenet(pretrained=True)
    assert isinstance(info.value, dl.DownloadError) and url in str(info.value)
    assert _leftovers(tmp_path / "torch" / "hub" / "checkpoints") == []


# --------------------------------------------------------------------------------------------
# Offline mode
# --------------------------------------------------------------------------------------------
def test_offline_mode_refuses_every_download_saying_what_to_put_where(
    server, tmp_path, monkeypatch
):
    monkeypatch.setenv(dl.OFFLINE_ENV, "1")
    payload, _ = imagenette_tgz()
    url = server.add("/imagenette2-160.tgz", payload)
    monkeypatch.setitem(dl.SOURCES, "imagenette", _source("imagenette", payload, url))
    target = tmp_path / "fastai" / "data" / "imagenette2-160"
    with pytest.raises(dl.OfflineError) as info:
        dl.download("imagenette")
    message = str(info.value)
    assert url in message and "imagenette2-160.tgz" in message and str(target) in message
    assert isinstance(info.value, FileNotFoundError)

    with pytest.raises(D.DatasetOfflineError) as info:  # what TrainConfig(dataset=...) raises
        D.make_datasets(TrainConfig(dataset="imagenette"))
    assert isinstance(info.value, D.DatasetUnavailableError) and str(target) in str(info.value)
    with pytest.raises(D.DatasetUnavailableError, match="COLORLAB_OFFLINE"):
        D.cifar10(tmp_path / "c")

    with pytest.raises(cio.WeightsOfflineError) as info:
        metrics.LPIPS()
    assert isinstance(info.value, cio.WeightsUnavailableError) and "pretrained=False" in str(
        info.value
    )
    with pytest.raises(resnet_unet.PretrainedWeightsOffline) as info:
        resnet_unet.resnet18_imagenet(pretrained=True)
    assert isinstance(info.value, resnet_unet.PretrainedWeightsMissing)
    assert resnet_unet.RESNET18_WEIGHTS_URL in str(info.value)
    assert str(resnet_unet.resnet18_weights_path()) in str(info.value)
    assert server.requests == [] and not (tmp_path / "fastai" / "data").exists()


# --------------------------------------------------------------------------------------------
# colorlab data get
# --------------------------------------------------------------------------------------------
def test_cli_data_get_prints_the_folder_last(server, tmp_path, monkeypatch, capsys):
    payload, _ = imagenette_tgz()
    url = server.add("/mirror/imagenette2-160.tgz", payload)
    monkeypatch.setitem(dl.SOURCES, "imagenette", _source("imagenette", payload, server.url("/x")))
    assert main(["data", "get", "imagenette", "--dir", str(tmp_path / "d"), "--url", url]) == 0
    out, err = capsys.readouterr()
    assert out.strip().splitlines()[-1] == str(tmp_path / "d" / "imagenette2-160")
    assert "100%" in err and server.requests == ["/mirror/imagenette2-160.tgz"]

    assert main(["data", "get", "--list"]) == 0
    listing = capsys.readouterr().out
    for name in ("imagenette", "coco_sample", "cifar10", "resnet18", "inception_v3"):
        assert name in listing
    assert str(dl.target_path("resnet18")) in listing

    monkeypatch.setenv(dl.OFFLINE_ENV, "1")
    assert main(["data", "get", "resnet18"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("colorlab: error: COLORLAB_OFFLINE=1") and "\n" not in err
    assert dl.SOURCES["resnet18"].url in err and "Traceback" not in err
    assert main(["data", "get", "no_such_set"]) == 1
    assert "known:" in capsys.readouterr().err
