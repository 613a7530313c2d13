"""``veil protect``: images keep format and lose metadata, videos keep fps/frames/size/audio,
folders are mirrored, failures leave nothing behind, nothing is overwritten by accident."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import av
import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps, ImageSequence, PngImagePlugin

from veil.anonymizers import Anonymizer, create_anonymizer
from veil.errors import ConfigError, MediaError
from veil.media import probe_video
from veil.protect import MANIFEST_DIR, SUMMARY_FILE, ProtectConfig, protect_image_bytes, protect_paths

SPEC = "blur:sigma=3"
CFG = ProtectConfig(progress=False)
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description dc:creator="Alice Example"/></rdf:RDF>' + (
    b"</x:xmpmeta>"
)
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


@pytest.fixture(scope="module")
def blur() -> Anonymizer:
    return create_anonymizer(SPEC)


def pixels(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth picture with detail (blur changes it a lot, lossy codecs little)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (w + h)], axis=2)
    base[::8, :] = 255 - base[::8, :]  # stripes: what the blur removes
    return np.clip(base + rng.integers(-10, 10, base.shape), 0, 255).astype(np.uint8)


def exif_with_gps(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "CanonSecretMake"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 24.0)
    exif.get_ifd(0x8769)[0x927C] = b"MAKERNOTE-PREVIEW"
    return exif


def write_image(path: Path, im: np.ndarray, fmt: str, metadata: bool = True) -> None:
    kw: dict[str, object] = {}
    if metadata:
        kw.update(exif=exif_with_gps().tobytes(), icc_profile=ICC)
        if fmt in ("JPEG", "WEBP"):
            kw["xmp"] = XMP
        if fmt == "JPEG":
            kw["comment"] = "secret comment"
        if fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_text("Author", "Alice Example")
            info.add_itxt("XML:com.adobe.xmp", XMP.decode())
            kw["pnginfo"] = info
    if fmt in ("JPEG", "WEBP"):
        kw["quality"] = 95
    Image.fromarray(im).save(path, format=fmt, **kw)


def upright(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".veil-part")]


# ----------------------------------------------------------------------------- images


class TestImages:
    @pytest.mark.parametrize("ext", list(FORMATS))
    def test_metadata_stripped_by_default(self, ext: str, tmp_path: Path, blur: Anonymizer) -> None:
        src = tmp_path / "in" / f"photo.{ext}"
        src.parent.mkdir()
        write_image(src, pixels(), FORMATS[ext])
        with Image.open(src) as im:  # the fixture really carries the metadata
            assert im.getexif()[0x010F] == "CanonSecretMake" and im.info.get("icc_profile")
        report = protect_paths([src], tmp_path / "out", SPEC, CFG)
        assert report.exit_code == 0
        out = tmp_path / "out" / f"photo.{ext}"
        data = out.read_bytes()
        for secret in (b"CanonSecretMake", b"Alice Example", b"secret comment", b"MAKERNOTE", b"sRGB built-in"):
            assert secret not in data
        with Image.open(out) as im:
            assert im.format == FORMATS[ext]
            assert len(im.getexif()) == 0 and not im.getexif().get_ifd(0x8825)
            assert not {"icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "Author", "exif"} & set(im.info)
            assert im.size == (48, 64)  # orientation 6 applied: upright, no tag needed
            got = np.asarray(im.convert("RGB")).astype(int)
        want = blur(upright(src)).astype(int)
        tol = 0 if ext == "png" else 6  # JPEG and lossy WebP re-encode
        assert np.abs(got - want).mean() <= max(tol, 1) and np.abs(got - upright(src)).mean() > 3 * max(tol, 1)

    @pytest.mark.parametrize("ext", list(FORMATS))
    def test_keep_metadata(self, ext: str, tmp_path: Path) -> None:
        src = tmp_path / f"photo.{ext}"
        write_image(src, pixels(), FORMATS[ext])
        cfg = ProtectConfig(progress=False, keep_metadata=True)
        assert protect_paths([src], tmp_path / "out", SPEC, cfg).exit_code == 0
        out = tmp_path / "out" / f"photo.{ext}"
        with Image.open(out) as im:
            exif = im.getexif()
            assert exif[0x010F] == "CanonSecretMake" and exif.get_ifd(0x8825)[1] == "N"
            assert exif.get(0x0112, 1) == 1 and im.size == (48, 64)  # upright pixels, orientation reset
            assert 0x927C not in exif.get_ifd(0x8769)  # maker notes can hold a preview: dropped
            assert im.info["icc_profile"] == ICC
            xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
            assert xmp and "Alice Example" in (xmp.decode() if isinstance(xmp, bytes) else xmp)
            if ext == "jpg":
                assert im.info["comment"] == b"secret comment"
            if ext == "png":
                assert im.text["Author"] == "Alice Example"

    def test_exif_thumbnail_dropped_even_when_keeping_metadata(self, tmp_path: Path) -> None:
        # IFD0 -> IFD1 chain: a second "page" stands for the embedded thumbnail
        thumb = io.BytesIO()
        Image.fromarray(pixels(8, 8)).save(thumb, format="TIFF", save_all=True,
                                           append_images=[Image.fromarray(pixels(4, 4, seed=1))])
        src = tmp_path / "t.jpg"
        Image.fromarray(pixels()).save(src, exif=b"Exif\x00\x00" + thumb.getvalue())
        with Image.open(src) as im:
            assert im.getexif().get_ifd(ExifTags.IFD.IFD1)  # the fixture has IFD1
        out = protect_image_bytes(src.read_bytes(), SPEC, keep_metadata=True)
        assert not Image.open(io.BytesIO(out)).getexif().get_ifd(ExifTags.IFD.IFD1)

    def test_alpha_grey_and_animation(self, blur: Anonymizer) -> None:
        im = pixels()
        alpha = np.full(im.shape[:2], 255, np.uint8)
        alpha[:10] = 0
        buf = io.BytesIO()
        Image.fromarray(np.dstack([im, alpha]), mode="RGBA").save(buf, format="PNG")
        out = Image.open(io.BytesIO(protect_image_bytes(buf.getvalue(), blur)))
        assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[:, :, 3], alpha)
        assert np.array_equal(np.asarray(out)[:, :, :3], blur(im))

        buf = io.BytesIO()
        Image.fromarray(im).convert("L").save(buf, format="PNG")
        assert Image.open(io.BytesIO(protect_image_bytes(buf.getvalue(), blur))).mode == "L"

        frames = [Image.fromarray(pixels(seed=i)) for i in range(3)]
        buf = io.BytesIO()
        frames[0].save(buf, format="WEBP", save_all=True, append_images=frames[1:], duration=[100, 200, 300],
                       loop=0, lossless=True)
        anim = Image.open(io.BytesIO(protect_image_bytes(buf.getvalue(), blur)))
        assert anim.n_frames == 3
        for i, frame in enumerate(ImageSequence.Iterator(anim)):
            frame.load()
            assert frame.info["duration"] == 100 * (i + 1)
            assert np.array_equal(np.asarray(frame.convert("RGB")), blur(pixels(seed=i)))  # lossless stays lossless

    def test_format_override_and_refusals(self, tmp_path: Path) -> None:
        buf = io.BytesIO()
        Image.fromarray(pixels()).save(buf, format="PNG")
        assert Image.open(io.BytesIO(protect_image_bytes(buf.getvalue(), SPEC, fmt="jpeg"))).format == "JPEG"
        with pytest.raises(MediaError, match="not a readable image"):
            protect_image_bytes(b"\x89PNG\r\n\x1a\n garbage", SPEC)
        with pytest.raises(MediaError, match="exceeds the limit"):
            protect_image_bytes(buf.getvalue(), SPEC, max_pixels=1000)
        with pytest.raises(MediaError, match="cannot write"):
            protect_image_bytes(buf.getvalue(), SPEC, fmt="svg")


# ----------------------------------------------------------------------------- videos


def make_video(path: Path, fmt: str, vcodec: str, acodec: str | None, n: int = 15, size: tuple[int, int] = (64, 48),
               rate: int = 12, rate_audio: int = 16000) -> None:
    """A clip with moving stripes, a 440 Hz tone and a title/location tag."""
    w, h = size
    with av.open(str(path), "w", format=fmt) as c:
        c.metadata["title"] = "Secret Title"
        c.metadata["location"] = "+48.8566+002.3522/"
        vs = c.add_stream(vcodec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuvj420p" if vcodec == "mjpeg" else "yuv420p"
        vs.codec_context.options = {"crf": "10"} if vcodec == "h264" else {}
        a = c.add_stream(acodec, rate=rate_audio) if acodec else None
        if a is not None:
            a.layout = "mono"
        for i in range(n):
            img = pixels(h, w, seed=i)
            img[:, (i * 4) % w :][:, :4] = 255
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, rate)
            c.mux(vs.encode(f))
        c.mux(vs.encode(None))
        if a is not None:
            total, t, fs = rate_audio * n // rate, 0, a.codec_context.frame_size or 1024
            while t < total:
                k = min(fs, total - t)
                tone = (np.sin(2 * np.pi * 440 * np.arange(t, t + k) / rate_audio) * 9000).astype(np.int16)[None]
                af = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
                af.sample_rate, af.pts, af.time_base = rate_audio, t, Fraction(1, rate_audio)
                c.mux(a.encode(af))
                t += k
            c.mux(a.encode(None))


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        return sum(f.samples for f in c.decode(a)) / a.codec_context.sample_rate


def first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


class TestVideos:
    @pytest.mark.parametrize(
        ("name", "fmt", "vcodec", "acodec"),
        [("clip.mp4", "mp4", "h264", "aac"), ("clip.avi", "avi", "mpeg4", "libmp3lame"),
         ("pcm.avi", "avi", "mpeg4", "pcm_s16le")],
    )
    def test_fps_frames_size_and_audio_kept(self, name: str, fmt: str, vcodec: str, acodec: str,
                                            tmp_path: Path, blur: Anonymizer) -> None:
        src = tmp_path / name
        make_video(src, fmt, vcodec, acodec)
        report = protect_paths([src], tmp_path / "out", SPEC, CFG)
        assert report.exit_code == 0, report.format()
        out = tmp_path / "out" / name
        p_in, p_out = probe_video(src), probe_video(out)
        assert (p_out.fps, p_out.frames, p_out.width, p_out.height) == (p_in.fps, p_in.frames, 64, 48)
        with av.open(str(out)) as c:
            assert sum(1 for _ in c.decode(video=0)) == 15
        assert report.files[0].frames == 15
        assert p_out.audio == p_in.audio  # same codec: copied, not re-encoded
        assert audio_seconds(out) == pytest.approx(audio_seconds(src), abs=0.05)
        assert "title" not in p_out.metadata and not any("location" in k for k in p_out.metadata)
        assert b"Secret Title" not in out.read_bytes()
        got, orig = first_frame(out).astype(int), first_frame(src)
        assert np.abs(got - blur(orig)).mean() < np.abs(got - orig).mean() / 2  # protected, not the original

    def test_motion_jpeg_keeps_its_codec(self, tmp_path: Path, blur: Anonymizer) -> None:
        """Webcams and IP cameras write MJPEG, whose encoder opens with full-range formats only."""
        src = tmp_path / "webcam.avi"
        make_video(src, "avi", "mjpeg", None)
        report = protect_paths([src], tmp_path / "out", SPEC, CFG)
        assert report.exit_code == 0, report.format()
        out = tmp_path / "out" / "webcam.avi"
        assert probe_video(out).codec == "mjpeg" and probe_video(out).frames == 15
        got, orig = first_frame(out).astype(int), first_frame(src)
        assert np.abs(got - blur(orig)).mean() < np.abs(got - orig).mean() / 2

    def test_audio_the_container_cannot_copy_is_reencoded(self, tmp_path: Path) -> None:
        src = tmp_path / "adpcm.avi"
        make_video(src, "avi", "mpeg4", "adpcm_ima_wav")
        report = protect_paths([src], tmp_path / "out", SPEC, CFG)
        out = tmp_path / "out" / "adpcm.avi"
        assert list(report.files[0].details["audio"]) == ["adpcm_ima_wav -> mp3"]
        assert probe_video(out).audio == ("mp3",)
        assert audio_seconds(out) == pytest.approx(audio_seconds(src), abs=0.1)

    def test_keep_metadata_keeps_tags(self, tmp_path: Path) -> None:
        src = tmp_path / "clip.mp4"
        make_video(src, "mp4", "h264", "aac", n=4)
        protect_paths([src], tmp_path / "out", SPEC, ProtectConfig(progress=False, keep_metadata=True))
        assert probe_video(tmp_path / "out" / "clip.mp4").metadata["title"] == "Secret Title"

    def test_rotated_video_comes_out_upright(self, tmp_path: Path) -> None:
        import imageio_ffmpeg

        plain, rotated = tmp_path / "plain.mp4", tmp_path / "rot.mp4"
        make_video(plain, "mp4", "h264", None, n=3)
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-display_rotation", "90",
                        "-i", str(plain), "-c", "copy", str(rotated)], check=True, timeout=60)
        protect_paths([rotated], tmp_path / "out", "identity", CFG)
        out = first_frame(tmp_path / "out" / "rot.mp4")
        assert out.shape == (64, 48, 3)  # what players show: rotated 90 degrees counterclockwise
        assert np.abs(out.astype(int) - np.rot90(first_frame(plain), 1)).mean() < 4

    def test_crash_mid_video_leaves_nothing(self, tmp_path: Path) -> None:
        src = tmp_path / "in" / "clip.mp4"
        src.parent.mkdir()
        make_video(src, "mp4", "h264", "aac")
        report = protect_paths([src.parent], tmp_path / "out", FailsAfter(5), CFG)
        assert report.exit_code == 1
        assert report.files[0].status == "failed" and "frame 6" in report.files[0].reason
        assert not (tmp_path / "out" / "clip.mp4").exists() and no_temp_files(tmp_path / "out")


    def test_truncated_video_is_flagged(self, tmp_path: Path) -> None:
        src = tmp_path / "clip.avi"
        make_video(src, "avi", "mpeg4", "pcm_s16le", n=20)
        cut = tmp_path / "cut" / "clip.avi"
        cut.parent.mkdir()
        cut.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
        report = protect_paths([cut], tmp_path / "out", SPEC, CFG)
        res = report.files[0]
        assert res.status == "protected" and 0 < res.frames < 20
        assert "truncated" in res.details["warning"] and "warning" in report.format()


    def test_damaged_packet_mid_stream_drops_its_frame_and_protects_every_other(self, tmp_path: Path,
                                                                               blur: Anonymizer) -> None:
        src = tmp_path / "clip.mp4"
        make_video(src, "mp4", "h264", "aac", n=30)
        bad = tmp_path / "in" / "clip.mp4"
        bad.parent.mkdir()
        bad.write_bytes(damage_packets(src, [15]))
        decoded, refused = decode_skipping_damage(bad)
        assert refused == 1 and len(decoded) == 29  # the damage is real: the decoder refuses that packet
        report = protect_paths([bad.parent], tmp_path / "out", SPEC, CFG)
        res = report.files[0]
        assert res.status == "protected" and res.frames == 29 and res.details["damaged_packets"] == 1
        assert "1 damaged video packet" in res.details["warning"] and "warning" in report.format()
        with av.open(str(tmp_path / "out" / "clip.mp4")) as c:
            out = [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]
        assert len(out) == 29
        for o, d in zip(out, decoded, strict=True):  # every frame written is the protected one
            assert np.abs(o - blur(d)).mean() < np.abs(o - d).mean() / 2
        assert no_temp_files(tmp_path / "out")

    def test_mostly_damaged_video_fails_as_a_whole(self, tmp_path: Path) -> None:
        src = tmp_path / "clip.mp4"
        make_video(src, "mp4", "h264", "aac", n=30)
        bad = tmp_path / "in" / "clip.mp4"
        bad.parent.mkdir()
        bad.write_bytes(damage_packets(src, list(range(2, 30, 2))))
        assert decode_skipping_damage(bad)[1] > 0.25 * 30
        report = protect_paths([bad], tmp_path / "out", SPEC, CFG)
        res = report.files[0]
        assert res.status == "failed" and "damaged" in res.reason and report.exit_code == 1
        assert not (tmp_path / "out" / "clip.mp4").exists() and no_temp_files(tmp_path / "out")


def damage_packets(path: Path, which: list[int]) -> bytes:
    """The file's bytes with the payload of the video packets ``which`` (0-based) scrambled."""
    with av.open(str(path)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(path.read_bytes())
    for k in which:
        pos, size = packets[k]
        for j in range(pos + 4, pos + size):
            data[j] ^= 0xA5
    return bytes(data)


def decode_skipping_damage(path: Path) -> tuple[list[np.ndarray], int]:
    """The frames a decoder gets out of ``path`` when it skips the packets it refuses, and their count."""
    frames, refused = [], 0
    with av.open(str(path)) as c:
        for p in c.demux(video=0):
            try:
                frames += [f.to_ndarray(format="rgb24") for f in p.decode()]
            except av.InvalidDataError:
                refused += 1
    return frames, refused


class FailsAfter(Anonymizer):
    """A real anonymizer that breaks after some frames (a model crash in the middle of a video)."""

    name: ClassVar[str] = "fails-after"

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.seen = 0

    def apply(self, image: np.ndarray) -> np.ndarray:
        self.seen += 1
        if self.seen > self.frames:
            raise RuntimeError(f"model crashed on frame {self.seen}")
        return 255 - image


# ----------------------------------------------------------------------------- folders and runs


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """in/a.jpg, in/sub/b.png, in/sub/deeper/c.webp, in/sub/clip.avi, in/bad.jpg (corrupt), in/notes.txt."""
    root = tmp_path / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    write_image(root / "a.jpg", pixels(), "JPEG")
    write_image(root / "sub" / "b.png", pixels(seed=1), "PNG")
    write_image(root / "sub" / "deeper" / "c.webp", pixels(seed=2), "WEBP", metadata=False)
    make_video(root / "sub" / "clip.avi", "avi", "mpeg4", "pcm_s16le", n=6)
    good = (root / "a.jpg").read_bytes()
    (root / "bad.jpg").write_bytes(good[: len(good) // 3])  # truncated: decodes partly, then fails
    (root / "notes.txt").write_text("not an image")
    return root


MIRRORED = ["a.jpg", "sub/b.png", "sub/clip.avi", "sub/deeper/c.webp"]


class TestFolders:
    def test_mirrored_corrupt_reported_unsupported_skipped(self, tree: Path, tmp_path: Path) -> None:
        out = tmp_path / "out"
        report = protect_paths([tree], out, SPEC, CFG)
        assert report.exit_code == 1
        files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and MANIFEST_DIR not in p.parts)
        assert files == sorted([*MIRRORED, SUMMARY_FILE])
        assert no_temp_files(out)
        failed, skipped = report.by_status("failed"), report.by_status("skipped")
        assert [Path(f.input).name for f in failed] == ["bad.jpg"] and failed[0].output is None
        assert "not a readable image" in failed[0].reason
        assert [Path(f.input).name for f in skipped] == ["notes.txt"] and ".txt" in skipped[0].reason
        summary = json.loads((out / SUMMARY_FILE).read_text())
        assert summary["counts"] == {"protected": 4, "images": 3, "videos": 1, "frames": 6, "failed": 1,
                                     "skipped": 1}
        assert summary["anonymizer"] == SPEC and summary["seconds"] >= 0
        text = report.format()
        assert "1 failed, 1 skipped" in text and "bad.jpg" in text and "notes.txt" in text

    def test_no_overwrite_without_the_flag(self, tree: Path, tmp_path: Path) -> None:
        out = tmp_path / "out"
        (out / "sub").mkdir(parents=True)
        (out / "sub" / "b.png").write_bytes(b"precious")
        report = protect_paths([tree], out, SPEC, CFG)
        assert (out / "sub" / "b.png").read_bytes() == b"precious"
        failed = {Path(f.input).name: f.reason for f in report.by_status("failed")}
        assert "--overwrite" in failed["b.png"] and report.exit_code == 1
        assert (out / "a.jpg").is_file()  # the others still went through
        report = protect_paths([tree], out, SPEC, ProtectConfig(progress=False, overwrite=True))
        assert Image.open(out / "sub" / "b.png").format == "PNG"
        assert [Path(f.input).name for f in report.by_status("failed")] == ["bad.jpg"]

    def test_never_onto_an_input_even_with_overwrite(self, tree: Path) -> None:
        before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
        report = protect_paths([tree], tree, SPEC, ProtectConfig(progress=False, overwrite=True, summary=False))
        assert report.by_status("protected") == []
        failed = report.by_status("failed")
        assert len(failed) == 5 and all("is an input file" in f.reason for f in failed)
        assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before

    def test_output_folder_inside_the_input_is_not_walked(self, tree: Path) -> None:
        out = tree / "protected"
        protect_paths([tree], out, SPEC, CFG)
        report = protect_paths([tree], out, SPEC, ProtectConfig(progress=False, overwrite=True))
        assert not any("protected/" in f.input for f in report.files)
        assert not (out / "protected").exists()

    def test_named_unsupported_file_fails_and_missing_input_raises(self, tree: Path, tmp_path: Path) -> None:
        report = protect_paths([tree / "notes.txt"], tmp_path / "out", SPEC, CFG)
        assert report.exit_code == 1 and "unsupported" in report.files[0].reason
        with pytest.raises(MediaError, match="no such file"):
            protect_paths([tmp_path / "nope.jpg"], tmp_path / "out2", SPEC, CFG)
        assert not (tmp_path / "out2").exists()


class TestHeic:
    """iPhone photos (HEIC): protected upright, written back as HEIC without metadata."""

    def _heic(self, path: Path, im: np.ndarray) -> None:
        from veil.media import strict_decoding

        strict_decoding()  # registers pillow-heif's opener and writer
        Image.fromarray(im).save(path, format="HEIF", quality=95, exif=exif_with_gps(6).tobytes(), xmp=XMP)

    def test_a_heic_photo_is_protected_upright_without_metadata(self, tmp_path: Path, blur: Anonymizer) -> None:
        im = pixels(96, 128)
        src = tmp_path / "in" / "IMG_0001.heic"
        src.parent.mkdir()
        self._heic(src, im)
        report = protect_paths([src.parent], tmp_path / "out", blur, CFG)
        assert [f.status for f in report.files] == ["protected"]
        out = tmp_path / "out" / "IMG_0001.heic"
        with Image.open(out) as got:
            assert got.format == "HEIF" and got.size == (96, 128)  # turned upright (orientation 6)
            assert not len(got.getexif()) and not got.info.get("xmp")
            protected = np.asarray(got.convert("RGB")).astype(int)
        want = blur.apply(np.ascontiguousarray(np.rot90(im, -1))).astype(int)
        assert np.abs(protected - want).mean() < 4.0  # lossy HEVC, the same protected picture
        assert np.abs(protected - np.rot90(im, -1).astype(int)).mean() > 2 * np.abs(protected - want).mean()
        kept = protect_image_bytes(src.read_bytes(), blur, keep_metadata=True, name="IMG_0001.heic")
        with Image.open(io.BytesIO(kept)) as got:
            exif = got.getexif()
            assert exif.get(0x010F) == "CanonSecretMake" and exif.get(0x0112) in (None, 1)


class TestMaxSide:
    def test_large_images_are_scaled_to_fit(self, tmp_path: Path) -> None:
        """``--max-side``: a 3000x2000 photo comes out 1024x683 (the photo scaled by area, then
        protected), a small one at its size; the setting is part of the resume key, so a run
        at full size does not take the scaled outputs for its own."""
        src = tmp_path / "in"
        src.mkdir()
        big = np.ascontiguousarray(np.kron(pixels(100, 150), np.ones((20, 20, 1), np.uint8)))
        Image.fromarray(big).save(src / "big.png")
        Image.fromarray(pixels()).save(src / "small.png")
        out = tmp_path / "out"
        r = subprocess.run([*veil_command(), "protect", "--anonymizer", SPEC, str(src), "-o", str(out), "--quiet",
                            "--max-side", "1024"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        with Image.open(out / "big.png") as got:
            assert got.size == (1024, 683)
            got_px = np.asarray(got.convert("RGB")).astype(int)
        import cv2

        want = create_anonymizer(SPEC).apply(cv2.resize(big, (1024, 683), interpolation=cv2.INTER_AREA))
        np.testing.assert_array_equal(got_px, want)
        with Image.open(out / "small.png") as got:
            assert got.size == (64, 48)
        again = protect_paths([src], out, SPEC, ProtectConfig(progress=False))
        failed = again.by_status("failed")
        assert again.resumed == 0 and len(failed) == 2 and all("exists" in f.reason for f in failed)
        report = protect_paths([src], out, SPEC, ProtectConfig(progress=False, overwrite=True))
        assert len(report.by_status("protected")) == 2 and Image.open(out / "big.png").size == (3000, 2000)
        with pytest.raises(ConfigError, match="max_side"):
            ProtectConfig(max_side=10)


class TestRuntime:
    def test_model_folder_runs_with_onnxruntime_by_default(self, tmp_path: Path) -> None:
        import torch

        from veil.anonymizers.learned import LearnedAnonymizer

        model = LearnedAnonymizer("unet", width=4)
        with torch.no_grad():
            for p in model.net.parameters():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(0)) * 0.1)
        folder = model.save(tmp_path / "model")
        src = tmp_path / "in.png"
        write_image(src, pixels(), "PNG", metadata=False)
        outs = {}
        for runtime in ("auto", "torch", "onnxruntime"):
            cfg = ProtectConfig(progress=False, runtime=runtime, threads=1)
            report = protect_paths([src], tmp_path / runtime, str(folder), cfg)
            assert report.runtime == ("torch" if runtime == "torch" else "onnxruntime")
            assert report.anonymizer == str(folder)
            outs[runtime] = np.asarray(Image.open(tmp_path / runtime / "in.png")).astype(int)
        assert np.abs(outs["auto"] - outs["torch"]).max() <= 1 and np.abs(outs["torch"] - pixels()).mean() > 1
        with pytest.raises(ConfigError, match="runtime"):
            ProtectConfig(runtime="tensorflow")  # type: ignore[arg-type]


def veil_command() -> list[str]:
    exe = Path(sys.executable).parent / "veil"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "veil.cli"]


class TestCommand:
    def test_folder_through_the_cli(self, tree: Path, tmp_path: Path) -> None:
        out = tmp_path / "out"
        r = subprocess.run([*veil_command(), "protect", "--anonymizer", SPEC, str(tree), "-o", str(out)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 1, r.stderr
        assert "protected 4 file(s)" in r.stdout and "bad.jpg" in r.stdout and SUMMARY_FILE in r.stdout
        assert sorted(str(p.relative_to(out)) for p in out.rglob("*")
                      if p.is_file() and MANIFEST_DIR not in p.parts) == sorted([*MIRRORED, SUMMARY_FILE])
        shutil.rmtree(out)
        good = [str(tree / "a.jpg"), str(tree / "sub")]
        r = subprocess.run([*veil_command(), "protect", "--anonymizer", SPEC, *good, "-o", str(out), "--quiet"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert (out / "a.jpg").is_file() and (out / "deeper" / "c.webp").is_file() and (out / "clip.avi").is_file()

    def test_bad_spec_is_a_clear_error(self, tree: Path, tmp_path: Path) -> None:
        r = subprocess.run([*veil_command(), "protect", "--anonymizer", "blurr", str(tree), "-o",
                            str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
        assert r.returncode == 2 and "unknown anonymizer 'blurr'" in r.stderr
        assert not (tmp_path / "o").exists()


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs on one torch thread (tests/conftest.py)."""


def test_truncated_images_stay_refused_after_face_recognition_is_imported() -> None:
    """face_recognition turns PIL's LOAD_TRUNCATED_IMAGES on process-wide; Veil's decoders must still refuse."""
    import io

    import face_recognition  # noqa: F401
    from PIL import Image, ImageFile

    from veil.errors import MediaError
    from veil.media import decode_image
    from veil.protect import protect_image_bytes

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    truncated = buf.getvalue()[: len(buf.getvalue()) // 2]
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # what the import does
    with pytest.raises(MediaError):
        decode_image(truncated)
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    with pytest.raises(MediaError):
        protect_image_bytes(truncated, "blur:sigma=2")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
