"""The dataset manifest: JSONL, one item a line (see docs/manifest.md).

A line looks like::

    {"id": "vtest-000120-c1", "split": "train",
     "media": {"type": "image", "path": "images/vtest-000120-c1.png"},
     "queries": [{"family": "count", "prompt": "How many people are in this image?",
                  "answers": ["2"], "choices": ["0", "1", "2", "3", "4 or more"]}],
     "attributes": {"face": 1, "name_text": 0, "phone_text": 1, "plate_text": 0},
     "faces": [[412, 80, 440, 114]],
     "private_text": [{"kind": "phone", "text": "0161 496 0734", "box": [20, 300, 180, 322]}],
     "source": "vtest.avi#120"}

Paths are relative to the manifest's folder (absolute paths are allowed). Boxes are
``[x1, y1, x2, y2]`` in pixels of the item's media. ``validate_manifest`` reports *every*
problem with its line number and field; ``load_manifest`` raises on the first file with
problems, listing them all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from veil.errors import ManifestError
from veil.fsutil import atomic_open

SPLITS = ("train", "val", "test")
MEDIA_TYPES = ("image", "video", "frames")
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Media:
    """Where an item's pixels are: one image, one video file, or a list of frames."""

    type: str
    path: str | None = None
    paths: tuple[str, ...] = ()

    def files(self) -> list[str]:
        return [self.path] if self.path is not None else list(self.paths)


@dataclass(frozen=True)
class Query:
    """One utility question with its target answer(s) and optional multiple choices."""

    family: str
    prompt: str
    answers: tuple[str, ...]
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PrivateText:
    """A private string rendered or annotated in the media, with its box."""

    kind: str
    text: str
    box: Box


@dataclass(frozen=True)
class Item:
    """One manifest line."""

    id: str
    split: str
    media: Media
    queries: tuple[Query, ...] = ()
    attributes: dict[str, int] = field(default_factory=dict)
    faces: tuple[Box, ...] = ()
    private_text: tuple[PrivateText, ...] = ()
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    root: Path = Path(".")

    def media_path(self, index: int = 0) -> Path:
        """Absolute path of the item's media file (``index`` for frame lists)."""
        rel = self.media.files()[index]
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "split": self.split,
            "media": _media_to_json(self.media),
            "queries": [_query_to_json(q) for q in self.queries],
            "attributes": dict(self.attributes),
            "faces": [list(b) for b in self.faces],
            "private_text": [
                {"kind": t.kind, "text": t.text, "box": list(t.box)} for t in self.private_text
            ],
        }
        if self.source:
            d["source"] = self.source
        if self.meta:
            d["meta"] = self.meta
        return d


def _media_to_json(m: Media) -> dict[str, Any]:
    if m.type == "frames":
        return {"type": "frames", "paths": list(m.paths)}
    return {"type": m.type, "path": m.path}


def _query_to_json(q: Query) -> dict[str, Any]:
    d = asdict(q)
    d["answers"] = list(q.answers)
    if q.choices is None:
        d.pop("choices")
    else:
        d["choices"] = list(q.choices)
    return d


# ----------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (line, field) and what."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


def _is_box(v: Any) -> bool:
    return (
        isinstance(v, list | tuple)
        and len(v) == 4
        and all(isinstance(c, int | float) and not isinstance(c, bool) for c in v)
        and v[2] > v[0]
        and v[3] > v[1]
    )


def _check_item(d: Any, line: int, root: Path, check_files: bool) -> list[Problem]:
    """Return every problem of one parsed JSON line."""
    P = lambda f, m: Problem(line, f, m)  # noqa: E731
    if not isinstance(d, dict):
        return [P("<line>", f"expected a JSON object, got {type(d).__name__}")]
    out: list[Problem] = []
    known = {"id", "split", "media", "queries", "attributes", "faces", "private_text", "source", "meta"}
    for k in d:
        if k not in known:
            out.append(P(k, f"unknown field; allowed: {', '.join(sorted(known))}"))
    if not isinstance(d.get("id"), str) or not d.get("id"):
        out.append(P("id", "required non-empty string"))
    if d.get("split") not in SPLITS:
        out.append(P("split", f"must be one of {', '.join(SPLITS)}, got {d.get('split')!r}"))
    media = d.get("media")
    if not isinstance(media, dict):
        out.append(P("media", "required object with 'type' and 'path' (or 'paths' for frames)"))
    else:
        mtype = media.get("type")
        if mtype not in MEDIA_TYPES:
            out.append(P("media.type", f"must be one of {', '.join(MEDIA_TYPES)}, got {mtype!r}"))
        elif mtype == "frames":
            paths = media.get("paths")
            if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
                out.append(P("media.paths", "frames need a non-empty list of path strings"))
            elif check_files:
                for i, p in enumerate(paths):
                    if not _resolve(root, p).is_file():
                        out.append(P(f"media.paths[{i}]", f"file not found: {_resolve(root, p)}"))
        else:
            path = media.get("path")
            if not isinstance(path, str) or not path:
                out.append(P("media.path", "required path string"))
            elif check_files and not _resolve(root, path).is_file():
                out.append(P("media.path", f"file not found: {_resolve(root, path)}"))
    queries = d.get("queries", [])
    if not isinstance(queries, list):
        out.append(P("queries", "must be a list"))
        queries = []
    for i, q in enumerate(queries):
        f = f"queries[{i}]"
        if not isinstance(q, dict):
            out.append(P(f, "must be an object"))
            continue
        for key in ("family", "prompt"):
            if not isinstance(q.get(key), str) or not q.get(key):
                out.append(P(f"{f}.{key}", "required non-empty string"))
        ans = q.get("answers")
        if not isinstance(ans, list) or not ans or not all(isinstance(a, str) for a in ans):
            out.append(P(f"{f}.answers", "required non-empty list of strings"))
        ch = q.get("choices")
        if ch is not None:
            if not isinstance(ch, list) or len(ch) < 2 or not all(isinstance(c, str) for c in ch):
                out.append(P(f"{f}.choices", "must be a list of at least 2 strings"))
            elif isinstance(ans, list) and not any(a in ch for a in ans):
                out.append(P(f"{f}.answers", "no target answer is among the choices"))
    attrs = d.get("attributes", {})
    if not isinstance(attrs, dict):
        out.append(P("attributes", "must be an object of name -> 0 or 1"))
    else:
        for k, v in attrs.items():
            if v not in (0, 1) or isinstance(v, float):
                out.append(P(f"attributes.{k}", f"must be 0 or 1, got {v!r}"))
    faces = d.get("faces", [])
    if not isinstance(faces, list):
        out.append(P("faces", "must be a list of [x1, y1, x2, y2] boxes"))
    else:
        for i, b in enumerate(faces):
            if not _is_box(b):
                out.append(P(f"faces[{i}]", f"must be [x1, y1, x2, y2] with x2>x1, y2>y1, got {b!r}"))
    texts = d.get("private_text", [])
    if not isinstance(texts, list):
        out.append(P("private_text", "must be a list"))
    else:
        for i, t in enumerate(texts):
            f = f"private_text[{i}]"
            if not isinstance(t, dict):
                out.append(P(f, "must be an object with kind, text, box"))
                continue
            for key in ("kind", "text"):
                if not isinstance(t.get(key), str) or not t.get(key):
                    out.append(P(f"{f}.{key}", "required non-empty string"))
            if not _is_box(t.get("box")):
                out.append(P(f"{f}.box", f"must be [x1, y1, x2, y2], got {t.get('box')!r}"))
    if "source" in d and not isinstance(d["source"], str):
        out.append(P("source", "must be a string"))
    if "meta" in d and not isinstance(d["meta"], dict):
        out.append(P("meta", "must be an object"))
    return out


def _resolve(root: Path, p: str) -> Path:
    pp = Path(p)
    return pp if pp.is_absolute() else root / pp


def _parse(d: dict[str, Any], root: Path) -> Item:
    m = d["media"]
    media = Media(type=m["type"], path=m.get("path"), paths=tuple(m.get("paths", ())))
    return Item(
        id=d["id"],
        split=d["split"],
        media=media,
        queries=tuple(
            Query(
                family=q["family"],
                prompt=q["prompt"],
                answers=tuple(q["answers"]),
                choices=tuple(q["choices"]) if q.get("choices") is not None else None,
            )
            for q in d.get("queries", [])
        ),
        attributes={k: int(v) for k, v in d.get("attributes", {}).items()},
        faces=tuple(tuple(float(c) for c in b) for b in d.get("faces", [])),  # type: ignore[misc]
        private_text=tuple(
            PrivateText(kind=t["kind"], text=t["text"], box=tuple(float(c) for c in t["box"]))  # type: ignore[arg-type]
            for t in d.get("private_text", [])
        ),
        source=d.get("source", ""),
        meta=d.get("meta", {}),
        root=root,
    )


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    with path.open("r", encoding="utf-8") as fh:
        for n, raw in enumerate(fh, start=1):
            if raw.strip():
                yield n, raw


def validate_manifest(path: str | os.PathLike[str], check_files: bool = True) -> list[Problem]:
    """Every problem of a manifest file, with line numbers and fields (empty if valid).

    Raises:
        ManifestError: if the file itself does not exist.
    """
    path = Path(path)
    root = path.parent
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    n_items = 0
    for n, raw in _lines(path):
        n_items += 1
        try:
            d = json.loads(raw)
        except json.JSONDecodeError as e:
            problems.append(Problem(n, "<json>", f"not valid JSON ({e.msg} at column {e.colno})"))
            continue
        problems.extend(_check_item(d, n, root, check_files))
        if isinstance(d, dict) and isinstance(d.get("id"), str):
            if d["id"] in seen:
                problems.append(Problem(n, "id", f"duplicate id {d['id']!r} (first on line {seen[d['id']]})"))
            else:
                seen[d["id"]] = n
    if n_items == 0:
        problems.append(Problem(0, "<file>", "manifest has no items"))
    return problems


def load_manifest(
    path: str | os.PathLike[str], split: str | None = None, check_files: bool = True
) -> list[Item]:
    """Parse a manifest into items, optionally keeping one split.

    Raises:
        ManifestError: listing every problem when the manifest is invalid.
    """
    path = Path(path)
    problems = validate_manifest(path, check_files=check_files)
    if problems:
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more; run `veil data check {path}`)" if len(problems) > 5 else ""
        raise ManifestError(f"{path}: {shown}{more}")
    items = [_parse(json.loads(raw), path.parent) for _, raw in _lines(path)]
    if split is not None:
        if split not in SPLITS:
            raise ManifestError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        items = [it for it in items if it.split == split]
    return items


def write_manifest(path: str | os.PathLike[str], items: Iterable[Item]) -> Path:
    """Write items as JSONL atomically (temp file in the same folder, then rename)."""
    with atomic_open(path, "w") as fh:
        for it in items:
            fh.write(json.dumps(it.to_json(), ensure_ascii=False) + "\n")
    return Path(path)


def attribute_names(items: Iterable[Item]) -> list[str]:
    """Sorted union of attribute names over items."""
    names: set[str] = set()
    for it in items:
        names.update(it.attributes)
    return sorted(names)
