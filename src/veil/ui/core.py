"""What the review UI does, without the web: open images, protect them, find the regions
that matter, ask the black box, save. :mod:`veil.ui.app` only maps routes onto this.

- Images are checked with the proxy's fail-closed decoder
  (:func:`veil.proxy.transform.inspect_request_image`: PNG/JPEG/WebP/GIF only, one frame,
  pixel limit from the header) before anything decodes them.
- Protection is :func:`veil.protect.protect_image_bytes` with the anonymizer run as
  ``veil protect`` runs it (:func:`veil.protect.with_runtime`, ``auto``), so the saved
  bytes are the bytes ``veil protect`` writes.
- Regions come from the ``faces+textcls`` guide's detectors (CenterFace faces, PP-OCRv4
  text lines read and categorised locally), whatever the anonymizer. For a guided-policy
  model each region also gets the model's blur level for its category; for every
  anonymizer, the mean change inside the region.
- Questions go through one :class:`~veil.blackbox.engine.QueryEngine` (budget, cache, log),
  as ``veil ask`` does; the original is sent only when the caller says so explicitly.
"""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from veil.anonymizers.base import Anonymizer
from veil.errors import ConfigError, MediaError, VeilError
from veil.lru import LruCache

#: Categories a region can have (faces, nudity, then the text guide's categories).
CATEGORIES: tuple[str, ...] = ("face", "nudity", "name", "phone", "plate", "email", "id", "unread", "public")
#: The default privacy policy: every category but public text.
DEFAULT_POLICY: tuple[str, ...] = CATEGORIES[:-1]
#: A region counts as hidden when its mean change exceeds this (fraction of full scale), or,
#: for a guided-policy model, when its category's blur level reaches ``HIDDEN_LEVEL``.
HIDDEN_CHANGE = 0.03
HIDDEN_LEVEL = 0.5
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class UIConfig:
    """Settings of ``veil ui``.

    Attributes:
        anonymizer: the anonymizer spec shown first (any spec or a model folder).
        backend: black box: ``reference``, ``reference-b`` or ``openai``.
        base_url / model / api_key_env: the ``openai`` backend's service (as ``veil ask``).
        cache: response cache file shared with the CLI (None: no cache).
        log: JSONL query log (None: none).
        budget: most paid queries (None: unlimited).
        out: folder that "Save" writes protected files and records into.
        host / port: where to listen (loopback by default).
        max_upload_bytes: largest uploaded file.
        max_pixels: largest image (width x height), checked from the header.
        inputs: image files or folders opened at start.
    """

    anonymizer: str = "faceblur"
    backend: str = "reference"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    cache: str | None = None
    log: str | None = None
    budget: int | None = None
    out: str = "veil-ui-out"
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 25_000_000
    inputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.backend != "openai" and (self.base_url or self.model or self.api_key_env):
            raise ConfigError("--base-url, --model and --api-key-env apply to --backend openai only")
        if self.budget is not None and self.budget < 0:
            raise ConfigError(f"--budget must be >= 0, got {self.budget}")
        if self.max_upload_bytes < 1:
            raise ConfigError("the upload limit must be at least one byte")


@dataclass
class Picture:
    """One opened image: its file bytes and the oriented sRGB pixels the anonymizer sees."""

    id: str
    name: str
    data: bytes
    rgb: np.ndarray
    regions: list[dict[str, Any]] | None = None


@dataclass
class Tool:
    """A built anonymizer and what the page needs to know about it."""

    anonymizer: Anonymizer
    spec: str
    kind: str  # "guided-policy", "conditioned" (film-unet: has the privacy dial), "model" or "baseline"
    privacy: float | None
    policy: list[str] | None
    levels: dict[str, float] = field(default_factory=dict)
    reproducible: bool = True  # False: a policy override that `veil protect` with this spec does not apply
    key: tuple[Any, ...] = ()


@dataclass
class Protected:
    data: bytes
    rgb: np.ndarray


class _Capture(Anonymizer):
    """Runs ``inner`` and keeps the first frame's input and output pixels."""

    name = "capture"

    def __init__(self, inner: Anonymizer) -> None:
        self.inner = inner
        self.seen: tuple[np.ndarray, np.ndarray] | None = None

    def apply(self, image: np.ndarray) -> np.ndarray:
        return self.apply_batch([image])[0]

    def apply_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        out = self.inner.apply_batch(images)
        if images and self.seen is None:
            self.seen = (np.asarray(images[0]), np.asarray(out[0]))
        return out


class _Identity(Anonymizer):
    name = "identity"

    def apply(self, image: np.ndarray) -> np.ndarray:
        return image


def safe_name(name: str) -> str:
    """A file name without folders or odd characters (``upload.png`` when nothing is left)."""
    base = _SAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).strip("._")
    return base[:120] or "upload.png"


def encode_png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise MediaError("could not encode a preview")
    return buf.tobytes()


class Workbench:
    """The UI's state: opened images, built anonymizers, the query engine. Thread-safe."""

    def __init__(self, config: UIConfig) -> None:
        self.config = config
        self.pictures: OrderedDict[str, Picture] = OrderedDict()
        self._tools = LruCache(8)  # built anonymizers by (spec, privacy, policy)
        self._kinds: dict[str, str] = {}
        self._model_policy: dict[str, tuple[str, ...]] = {}
        self._protected = LruCache(24)  # protected files by (picture, tool key)
        self._lock = threading.RLock()
        self._detect_lock = threading.Lock()
        self._detectors: tuple[Any, Any] | None = None
        self._engine: Any = None
        self.answers: int = 0

    # -- images

    def open_bytes(self, data: bytes, name: str) -> Picture:
        """Check and decode an image the way the proxy does; refuse anything else.

        Raises:
            MediaError: empty, too large, not a single-frame PNG/JPEG/WebP/GIF, or corrupt.
        """
        from veil.protect import protect_image_bytes
        from veil.proxy.errors import ProxyRefusal
        from veil.proxy.transform import inspect_request_image

        name = safe_name(name)
        if not data:
            raise MediaError(f"{name}: the file is empty")
        if len(data) > self.config.max_upload_bytes:
            raise MediaError(f"{name}: {len(data)} bytes exceeds the upload limit of {self.config.max_upload_bytes}")
        try:
            inspect_request_image(data, name, self.config.max_pixels)
        except ProxyRefusal as e:
            raise MediaError(str(e)) from None
        cap = _Capture(_Identity())
        try:
            protect_image_bytes(data, cap, "png", max_pixels=self.config.max_pixels, name=name)
        except MediaError:
            raise
        except Exception as e:  # any decoder failure: refuse
            raise MediaError(f"{name}: the image could not be decoded ({type(e).__name__})") from None
        if cap.seen is None:
            raise MediaError(f"{name}: the image has no frame")
        pic = Picture(uuid.uuid4().hex[:12], name, data, cap.seen[0])
        with self._lock:
            self.pictures[pic.id] = pic
        return pic

    def open_paths(self, paths: Sequence[str]) -> list[str]:
        """Open image files and the images in folders (not recursive); returns problems as messages."""
        problems: list[str] = []
        files: list[Path] = []
        for p in map(Path, paths):
            if p.is_dir():
                files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            elif p.is_file():
                files.append(p)
            else:
                problems.append(f"{p}: no such file or folder")
        for f in files:
            try:
                self.open_bytes(f.read_bytes(), f.name)
            except (OSError, VeilError) as e:
                problems.append(str(e))
        return problems

    def picture(self, pid: str) -> Picture:
        with self._lock:
            pic = self.pictures.get(pid)
        if pic is None:
            raise MediaError(f"no open image with id {pid!r}; open it again")
        return pic

    # -- anonymizers

    def tool(self, spec: str, privacy: float | None = None, policy: Sequence[str] | None = None) -> Tool:
        """The anonymizer for ``spec``, with the privacy dial (film-unet) and policy
        (guided-policy) applied where the model has them; built once and kept.

        Raises:
            ConfigError, ModelError, UnknownNameError: a bad spec or model.
        """
        spec = (spec or "").strip()
        if not spec:
            raise ConfigError("give an anonymizer spec (e.g. faceblur, blur:sigma=8) or a model folder")
        pol = tuple(sorted(set(policy))) if policy is not None else None
        if pol is not None and (bad := sorted(set(pol) - set(CATEGORIES))):
            raise ConfigError(f"unknown policy categories {bad}; choose among {', '.join(CATEGORIES)}")
        with self._lock:
            kind = self._kinds.get(spec)
            if kind is not None and kind != "guided-policy":
                pol = None  # only a guided-policy model uses the policy: one build per spec and dial
            elif kind == "guided-policy" and pol is None:
                pol = self._model_policy.get(spec)
            if kind != "conditioned":
                privacy = None
            key = (spec, privacy, pol)
            if (cached := self._tools.get(key)) is not None:
                return cached
            tool = self._build(spec, privacy, pol)
            self._kinds[spec] = tool.kind
            if tool.kind == "guided-policy" and pol is None:  # the model's own policy, asked for explicitly
                pol = tuple(sorted(tool.policy or ()))
                self._model_policy[spec] = pol
            elif tool.kind != "guided-policy":
                pol = None
            key = (spec, privacy if tool.kind == "conditioned" else None, pol)
            tool.key = key
            self._tools.put(key, tool)
            return tool

    def _build(self, spec: str, privacy: float | None, policy: tuple[str, ...] | None) -> Tool:
        from veil.anonymizers.learned import LearnedAnonymizer, load_anonymizer
        from veil.protect import with_runtime

        an = load_anonymizer(spec)
        if not isinstance(an, LearnedAnonymizer):
            return Tool(with_runtime(an, "auto"), an.spec, "baseline", None, None)
        kind, reproducible, levels = "model", True, {}
        if an.conditioned:
            kind = "conditioned"
            if privacy is not None and abs(privacy - an.privacy) > 1e-9:
                an = load_anonymizer(spec, privacy=privacy)
        net = an.net
        used_policy: list[str] | None = None
        if hasattr(net, "category_levels") and hasattr(net, "_route"):
            kind = "guided-policy"
            saved = list(net.policy)
            known = set(net.categories) | set(getattr(net, "fixed_categories", ()))
            if policy is not None and set(policy) & known != set(saved):
                _set_policy(net, policy)
                reproducible = False
            used_policy = list(net.policy)
            levels = net.category_levels()
        return Tool(with_runtime(an, "auto"), an.spec, kind, an.privacy if an.conditioned else None,
                    used_policy, levels, reproducible)

    # -- protection and regions

    def protect(self, pid: str, tool: Tool) -> Protected:
        """The protected file (bytes as ``veil protect`` writes them) and its pixels.

        Raises:
            MediaError: the image cannot be protected; VeilError from the anonymizer.
        """
        from veil.protect import protect_image_bytes

        pic = self.picture(pid)
        key = (pid, *tool.key)
        with self._lock:
            if (cached := self._protected.get(key)) is not None:
                return cached
            cap = _Capture(tool.anonymizer)
            data = protect_image_bytes(pic.data, cap, None, False, max_pixels=self.config.max_pixels, name=pic.name)
            if cap.seen is None:
                raise MediaError(f"{pic.name}: the image has no frame")
            res = Protected(data, cap.seen[1])
            self._protected.put(key, res)
            return res

    def regions(self, pid: str) -> list[dict[str, Any]]:
        """Faces and text lines (with their category and text), found once per image."""
        pic = self.picture(pid)
        if pic.regions is not None:
            return pic.regions
        with self._detect_lock:
            if self._detectors is None:
                from veil.anonymizers.guides import FaceGuide, NudityGuide, TextCategoryGuide

                self._detectors = (FaceGuide(), NudityGuide(), TextCategoryGuide())
            faces, nudity, text = self._detectors
            found: list[dict[str, Any]] = []
            for cat, boxes in (("face", faces.boxes(pic.rgb)), ("nudity", nudity.boxes(pic.rgb))):
                for x1, y1, x2, y2 in boxes:
                    poly = [[float(x1), float(y1)], [float(x2), float(y1)], [float(x2), float(y2)],
                            [float(x1), float(y2)]]
                    found.append({"category": cat, "polygon": poly, "text": None, "confidence": None})
            for poly, txt, conf, cat in text.read_lines(pic.rgb):
                found.append({"category": cat, "polygon": np.round(poly, 1).tolist(), "text": txt,
                              "confidence": round(conf, 3)})
        pic.regions = found
        return found

    def review(self, pid: str, tool: Tool, policy: Sequence[str]) -> list[dict[str, Any]]:
        """Each region with how strongly it was hidden and whether the policy wants it hidden."""
        pic = self.picture(pid)
        prot = self.protect(pid, tool)
        diff = np.abs(prot.rgb.astype(np.int16) - pic.rgb.astype(np.int16)).mean(axis=2)
        out = []
        for r in self.regions(pid):
            mask = np.zeros(diff.shape, np.uint8)
            cv2.fillPoly(mask, [np.round(np.asarray(r["polygon"])).astype(np.int32)], 1)
            change = float(diff[mask > 0].mean() / 255.0) if mask.any() else 0.0
            level = tool.levels.get(_route(tool, r["category"])) if tool.levels else None
            hidden = level >= HIDDEN_LEVEL if level is not None else change >= HIDDEN_CHANGE
            out.append({**r, "change": round(change, 4), "level": level, "hidden": bool(hidden),
                        "in_policy": r["category"] in policy})
        return out

    # -- black box

    def _get_engine(self) -> Any:
        from veil.blackbox.engine import EngineConfig, QueryEngine, RetryPolicy, build_backend

        with self._lock:
            if self._engine is None:
                c = self.config
                if c.backend == "openai":
                    bb = build_backend("openai", base_url=c.base_url, model=c.model, api_key_env=c.api_key_env)
                else:
                    bb = build_backend(c.backend)
                cfg = EngineConfig(concurrency=2, max_queries=c.budget,
                                   retry=RetryPolicy(max_retries=2, base_delay=0.5, max_connect_retries=1))
                self._engine = QueryEngine(bb, cfg, c.cache, c.log)
            return self._engine

    def ask(self, pid: str, tool: Tool, question: str, send_original: bool) -> dict[str, Any]:
        """Ask ``question`` about the protected image (and the original when ``send_original``).

        Raises:
            ConfigError: an empty question; BackendError, BudgetExceededError from the engine.
        """
        from veil.blackbox.engine import Query
        from veil.data.questions import format_prompt, parse_prompt

        question = question.strip()
        if not question:
            raise ConfigError("type a question first")
        q, choices = parse_prompt(question)
        prompt = format_prompt(q, tuple(choices)) if choices else question
        engine = self._get_engine()
        images = [self.protect(pid, tool).rgb] + ([self.picture(pid).rgb] if send_original else [])
        answers = engine.query_many([Query([im], prompt, choices) for im in images])
        res: dict[str, Any] = {"protected": _answer(answers[0]), "original": None}
        if send_original:
            res["original"] = _answer(answers[1])
        return res

    def engine_stats(self) -> dict[str, Any]:
        with self._lock:
            eng = self._engine
        if eng is None:
            return {"queries": 0, "cache_hits": 0, "budget": self.config.budget, "remaining": self.config.budget}
        return {"queries": eng.stats.queries, "cache_hits": eng.stats.cache_hits, "budget": self.config.budget,
                "remaining": eng.budget.remaining, "summary": eng.stats.summary()}

    # -- saving

    def save(self, pid: str, tool: Tool, policy: Sequence[str]) -> dict[str, Any]:
        """Write the protected file and ``<name>.veil.json`` (what was hidden) into the out folder."""
        from veil.fsutil import atomic_write_bytes, atomic_write_text

        pic = self.picture(pid)
        prot = self.protect(pid, tool)
        out = Path(self.config.out)
        out.mkdir(parents=True, exist_ok=True)
        dst = out / pic.name
        regions = [{k: v for k, v in r.items() if k != "text"} for r in self.review(pid, tool, policy)]
        record = {
            "source": pic.name, "output": str(dst), "anonymizer": tool.spec, "kind": tool.kind,
            "privacy": tool.privacy, "policy": list(policy), "model_policy": tool.policy,
            "category_levels": tool.levels or None, "reproducible_with_veil_protect": tool.reproducible,
            "metadata": "stripped", "bytes": len(prot.data),
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "regions": regions,
            "leaks": [r for r in regions if r["in_policy"] and not r["hidden"]],
        }
        atomic_write_bytes(dst, prot.data)
        rec = out / f"{pic.name}.veil.json"
        atomic_write_text(rec, json.dumps(record, indent=2) + "\n")
        return {"file": str(dst), "record": str(rec), "bytes": len(prot.data)}

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None


def _answer(a: Any) -> dict[str, Any]:
    import math

    probs = {c: round(math.exp(lp), 4) for c, lp in (a.logprobs or {}).items()}
    return {"text": a.text, "probabilities": probs or None}


def _route(tool: Tool, category: str) -> str:
    """The category whose level applies: outside the model's policy, public's (a fixed
    category, nudity, has its own level, 0 outside the policy)."""
    from veil.anonymizers.networks import FIXED_CATEGORIES

    if category in FIXED_CATEGORIES:
        return category
    if tool.policy is not None and category not in tool.policy and category != "public":
        return "public"
    return category


def _set_policy(net: Any, policy: Sequence[str]) -> None:
    """Route a guided-policy network's categories as ``policy`` says (the others share public's level)."""
    import torch

    cats = list(net.categories)
    pol = [c for c in cats + list(getattr(net, "fixed_categories", ())) if c in set(policy) and c != "public"]
    pub = cats.index("public")
    net.policy = pol
    net.hparams = {**net.hparams, "policy": pol}
    net._route = torch.tensor([i if c in pol or c == "public" else pub for i, c in enumerate(cats)],
                              device=net._route.device)


def image_bytes_type(data: bytes) -> str:
    """The MIME type of encoded image bytes (for serving the protected file as it is)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return Image.MIME.get(str(im.format), "application/octet-stream")
