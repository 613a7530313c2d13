"""Fixtures for the privacy proxy: real ``veil serve-reference --record`` and ``veil proxy``
subprocesses on free 127.0.0.1 ports, the recorder's file read back, and test images
(real photos, a JPEG carrying EXIF GPS, ICC and comment metadata) built in memory."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms

from veil.blackbox.server import stop_server_process

REPO = Path(__file__).resolve().parents[2]
#: The upstream: the reference black box in a cheap configuration (same code path, a few ms per query).
UPSTREAM_SPEC = "reference:work_size=320,faces=false"
#: A secret that must reach the upstream but never appear in the proxy's output.
CLIENT_KEY = "sk-veil-proxy-test-CLIENTKEY-7f3a9c"
GPS_MARK = "Veil GPS test camera"


@dataclass
class Proc:
    """A running ``veil`` subprocess: its base URL and the files its stdout/stderr go to."""

    proc: subprocess.Popen[bytes]
    url: str
    out: Path
    err: Path

    def output(self) -> str:
        """Everything the process wrote so far (stdout and stderr)."""
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")


@contextmanager
def run_veil(args: list[str], log_dir: Path, name: str, marker: str, env: dict[str, str] | None = None,
             startup_s: float = 120) -> Iterator[Proc]:
    """Run ``python -m veil.cli ARGS`` and yield it once it printed ``marker ... at http://...``."""
    out, err = log_dir / f"{name}.out", log_dir / f"{name}.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen([sys.executable, "-m", "veil.cli", *args], stdout=fo, stderr=fe,
                                env={**os.environ, **(env or {})}, cwd=REPO)
    p = Proc(proc, "", out, err)
    try:
        deadline = time.monotonic() + startup_s
        while not p.url:
            for line in out.read_text(errors="replace").splitlines():
                if marker in line and " at http://" in line:
                    p.url = line.split(" at ", 1)[1].split()[0]
            if p.url:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start (rc {proc.poll()}): {p.output()[-3000:]}")
            time.sleep(0.05)
        yield p
    finally:
        stop_server_process(proc)


class Recorder:
    """The upstream's record file: what ``veil serve-reference --record`` received."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def count(self) -> int:
        return len(self.records())

    def since(self, n: int) -> list[dict[str, Any]]:
        """Records after the first ``n``."""
        return self.records()[n:]


@pytest.fixture(scope="package")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, Recorder]]:
    """``veil serve-reference --record FILE`` (the upstream) and its recorder."""
    d = tmp_path_factory.mktemp("upstream")
    rec = d / "record.jsonl"
    args = ["serve-reference", "--host", "127.0.0.1", "--port", "0", "--blackbox", UPSTREAM_SPEC, "--record", str(rec)]
    with run_veil(args, d, "reference", "serving") as p:
        yield p, Recorder(rec)


@contextmanager
def start_proxy(upstream_url: str, log_dir: Path, *args: str, env: dict[str, str] | None = None,
                anonymizer: str = "blur:sigma=5", name: str = "proxy") -> Iterator[Proc]:
    """``veil proxy --anonymizer ANONYMIZER --upstream URL --port 0 ARGS`` (debug logging)."""
    cmd = ["proxy", "--anonymizer", anonymizer, "--upstream", upstream_url, "--host", "127.0.0.1", "--port", "0",
           "--log-level", "debug", *args]
    with run_veil(cmd, log_dir, name, "proxy", env=env) as p:
        yield p


# ---------------------------------------------------------------------- images


def media(name: str) -> Path:
    return Path(os.environ.get("VEIL_MEDIA", REPO / ".media")) / "opencv" / name


def photo(name: str = "data/messi5.jpg", size: tuple[int, int] | None = (320, 240)) -> np.ndarray:
    """A real photo from the embedded media as RGB uint8 (resized when ``size``)."""
    path = media(name)
    if not path.is_file():
        pytest.skip(f"{path} missing: run `make media` (or set VEIL_MEDIA)")
    im = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(cv2.resize(im, size, interpolation=cv2.INTER_AREA)) if size else im


def encode(image: np.ndarray, fmt: str = "PNG", **kw: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **kw)
    return buf.getvalue()


def jpeg_with_metadata(image: np.ndarray) -> bytes:
    """A JPEG carrying EXIF (camera make, GPS position), an ICC profile and a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = GPS_MARK
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 3.25)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(image, "JPEG", quality=92, exif=exif, icc_profile=icc, comment=b"secret comment")
    with Image.open(io.BytesIO(data)) as im:  # the fixture really carries what the test says
        assert im.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
        assert im.info.get("icc_profile")
    return data


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` RGB pixels, with one tiny IDAT
    (what a decompression bomb looks like before it is inflated)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


def zero_bomb_png(side: int = 3000) -> bytes:
    """A real, complete PNG of ``side`` x ``side`` black pixels: 27 MB of pixels in a few tens of kB."""
    return encode(np.zeros((side, side, 3), np.uint8), "PNG", optimize=False, compress_level=9)


def animated(fmt: str, frames: int = 3, size: tuple[int, int] = (48, 32)) -> bytes:
    """An animated GIF, PNG (APNG) or WebP with ``frames`` different frames."""
    ims = [Image.new("RGB", size, (40 * i, 255 - 40 * i, 90)) for i in range(frames)]
    buf = io.BytesIO()
    ims[0].save(buf, format=fmt, save_all=True, append_images=ims[1:], duration=100, loop=0)
    return buf.getvalue()


SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
       b'<image href="http://127.0.0.1:9/x.png" width="64" height="64"/><circle cx="32" cy="32" r="20"/></svg>')


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_part(data: bytes, mime: str = "image/png") -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url(data, mime)}}


def chat(parts: list[dict[str, Any]], text: str = "How many people are in this image?") -> dict[str, Any]:
    """A one-message chat-completions body for the reference model."""
    return {"model": "reference", "messages": [{"role": "user", "content": [{"type": "text", "text": text}, *parts]}]}


def forwarded_images(record: dict[str, Any]) -> list[bytes]:
    """The encoded bytes of every image_url part of a recorded chat request, in order."""
    body = json.loads(record["body"])
    out = []
    for msg in body["messages"]:
        if isinstance(msg.get("content"), list):
            for part in msg["content"]:
                if part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    assert url.startswith("data:image/png;base64,"), url[:40]
                    out.append(base64.b64decode(url.split(",", 1)[1]))
    return out


def post(url: str, body: Any = None, content: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 60) -> httpx.Response:
    """POST to ``URL/chat/completions`` (a JSON body, or raw ``content``)."""
    kw: dict[str, Any] = {"content": content} if content is not None else {"json": body}
    return httpx.post(f"{url}/chat/completions", headers=headers, timeout=timeout, **kw)


@pytest.fixture(scope="session")
def h() -> ModuleType:
    """This module: the helpers above (``h.chat``, ``h.image_part``, ``h.start_proxy``...) for test modules,
    which cannot import a conftest under ``--import-mode=importlib``."""
    return sys.modules[__name__]
