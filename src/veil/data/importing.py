"""Shared pieces of the public-benchmark loaders: layout errors, the import report, the
reading helpers that name the file at fault, and the registry behind ``veil data import``.

Each loader (``vispr``, ``ucf101``, ``hmdb51``, ``pahmdb51``, ``okvqa``) reads a dataset
in its *published* layout and returns manifest items plus an :class:`ImportReport` that
says what was kept and what was skipped and why. :func:`import_dataset` runs one by name
and writes the manifest atomically. Media paths in the written manifest are absolute, so
the manifest may live anywhere (the dataset is never copied).

Loaders accept a dataset as its archives extract, not only the flat layout: the parts
they need (class folders, split lists, annotation files) are looked for in the folder
given, next to it and up to two levels below it (:func:`find_folder`), and each
loader's detector (:func:`detect_layout`, ``veil data import --check``) says where it
found them as a :class:`Layout`. When a part is not found, the :class:`LayoutError`
names what was expected and the nearest entries that were found, in one line.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veil.data.manifest import SPLITS, Item, Query, write_manifest
from veil.errors import ConfigError, UnknownNameError, VeilError


class LayoutError(VeilError, ValueError):
    """A dataset folder does not follow its published layout (missing split file,
    annotation naming a missing image, unknown attribute, malformed line...). The
    message names the path (and line) at fault and what was expected there."""


@dataclass
class Layout:
    """Where a loader found the parts of a dataset under the folder it was given.

    Attributes:
        dataset: loader name.
        root: the folder given (``--root``).
        form: the layout recognised, in words (``flat``, ``nested: class folders in UCF-101/``).
        parts: role -> path found (``videos``, ``lists``, ``attributes``...), in reading order.
        notes: what else was decided (a split that is absent, a header row...).
    """

    dataset: str
    root: Path
    form: str = "flat"
    parts: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def show(self, path: Path) -> str:
        """``path`` relative to ``root`` when inside it (folders end with ``/``), else absolute."""
        try:
            rel = str(path.relative_to(self.root))
        except ValueError:
            rel = str(path)
        return rel + ("/" if path.is_dir() and rel != "." else "")

    def describe(self) -> str:
        """A few lines for the terminal: the form, each part and where it was found, the notes."""
        width = max((len(k) for k in self.parts), default=0)
        lines = [f"{self.dataset}: layout {self.form} in {self.root}"]
        lines += [f"  {role:<{width}}  {self.show(p)}" for role, p in self.parts.items()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"form": self.form, "parts": {k: str(v) for k, v in self.parts.items()}, "notes": self.notes}


@dataclass
class ImportReport:
    """What one import kept and skipped.

    Attributes:
        dataset: loader name.
        root: dataset folder read.
        items: items kept per manifest split.
        skipped: number of skipped entries per reason.
        examples: up to three examples (paths or ids) per reason.
        notes: facts worth knowing about this import (assumptions, options used).
        attributes: privacy attribute names written, in order.
        classes: class names (action datasets), in label order.
        out: the manifest written (None until written).
        layout: where the loader found the dataset's parts.
    """

    dataset: str
    root: Path
    items: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    out: Path | None = None
    layout: Layout | None = None

    def skip(self, reason: str, example: str) -> None:
        """Count one skipped entry under ``reason``, keeping a few examples."""
        self.skipped[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < 3:
            ex.append(example)

    def missing(self, reason: str, example: str, error: str, skip_missing: bool) -> None:
        """A referenced file is missing: count it as skipped with ``skip_missing``, else raise.

        Raises:
            LayoutError: ``error`` (it names the path), when ``skip_missing`` is False.
        """
        if not skip_missing:
            raise LayoutError(error)
        self.skip(reason, example)

    def keep(self, item: Item) -> None:
        self.items[item.split] += 1

    @property
    def total(self) -> int:
        return sum(self.items.values())

    def summary(self) -> str:
        """A few lines for the terminal: items per split, skips with examples, notes."""
        per = ", ".join(f"{s} {self.items.get(s, 0)}" for s in SPLITS)
        lines = [f"{self.dataset}: {self.total} items ({per}) from {self.root}"]
        if self.out is not None:
            lines[0] += f" -> {self.out}"
        if self.layout is not None:
            lines.append(f"  layout: {self.layout.form}")
        if self.classes:
            lines.append(f"  {len(self.classes)} classes")
        if self.attributes:
            lines.append(f"  attributes: {', '.join(self.attributes)}")
        for reason, n in sorted(self.skipped.items(), key=lambda kv: -kv[1]):
            lines.append(f"  skipped {n}: {reason} (e.g. {', '.join(self.examples.get(reason, []))})")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "root": str(self.root),
            "out": str(self.out) if self.out else None,
            "items": dict(self.items),
            "skipped": dict(self.skipped),
            "examples": self.examples,
            "notes": self.notes,
            "attributes": self.attributes,
            "classes": self.classes,
            "layout": self.layout.to_json() if self.layout is not None else None,
        }


# ----------------------------------------------------------------------------- reading helpers


def require_dir(path: Path, what: str, hint: str = "") -> Path:
    """``path`` if it is a folder, else a :class:`LayoutError` naming it."""
    if not path.is_dir():
        raise LayoutError(f"{path}: missing {what}" + (f"; {hint}" if hint else ""))
    return path


def require_file(path: Path, what: str, hint: str = "") -> Path:
    """``path`` if it is a file, else a :class:`LayoutError` naming it."""
    if not path.is_file():
        raise LayoutError(f"{path}: missing {what}" + (f"; {hint}" if hint else ""))
    return path


def read_json(path: Path) -> Any:
    """Parse a JSON file; a missing or malformed file is a :class:`LayoutError` naming it."""
    require_file(path, "JSON file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise LayoutError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise LayoutError(f"{path}: not UTF-8 text ({e.reason})") from None


def read_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-empty lines of a text file."""
    require_file(path, what)
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), start=1) if ln.strip()]


def find_case_insensitive(path: Path) -> Path | None:
    """``path`` itself, or a file in its folder whose name differs only in case (the
    official UCF101 lists name ``v_HandStandPushups_...`` in folder ``HandstandPushups``)."""
    if path.is_file():
        return path
    if not path.parent.is_dir():
        return None
    low = path.name.lower()
    for p in path.parent.iterdir():
        if p.name.lower() == low and p.is_file():
            return p
    return None


# ----------------------------------------------------------------------------- finding a layout

SEARCH_DEPTH = 2
_SKIP_DIRS = frozenset(("__MACOSX",))  # resource forks some archivers add


def child_dirs(path: Path) -> list[Path]:
    """The sub-folders of ``path`` in name order (hidden ones and ``__MACOSX`` left out);
    none when ``path`` is not a readable folder."""
    try:
        with os.scandir(path) as it:
            names = sorted(e.name for e in it if e.is_dir() and not e.name.startswith(".") and e.name not in _SKIP_DIRS)
    except OSError:
        return []
    return [path / n for n in names]


def folder_levels(root: Path, depth: int = SEARCH_DEPTH) -> Iterator[list[Path]]:
    """``[root]``, then its sub-folders, then theirs, down to ``depth`` levels below ``root``
    (each level computed only when asked for)."""
    level = [root]
    for d in range(depth + 1):
        if not level:
            return
        yield level
        if d < depth:
            level = [c for p in level for c in child_dirs(p)]


def find_folder(root: Path, score: Callable[[Path], int], depth: int = SEARCH_DEPTH) -> Path | None:
    """The shallowest folder from ``root`` down (``root`` itself, then one level below, ...
    to ``depth``) whose ``score`` is positive; at one depth the highest score wins, then
    name order. None if no folder scores."""
    for level in folder_levels(root, depth):
        best, best_score = None, 0
        for p in level:
            sc = score(p)
            if sc > best_score:
                best, best_score = p, sc
        if best is not None:
            return best
    return None


def find_file(root: Path, names: Sequence[str], depth: int = SEARCH_DEPTH) -> Path | None:
    """The shallowest file called one of ``names`` (first name first) in ``root`` or up
    to ``depth`` levels below it."""
    folder = find_folder(root, lambda p: int(any((p / n).is_file() for n in names)), depth)
    if folder is None:
        return None
    return next(folder / n for n in names if (folder / n).is_file())


def entry_names(folder: Path, depth: int = 1, limit: int = 400) -> list[str]:
    """Names of what ``folder`` holds, relative to it, down to ``depth`` levels (folders end
    with ``/``: ``UCF-101/``, ``UCF-101/ApplyEyeMakeup/``, ``notes.txt``); at most ``limit``."""
    out: list[str] = []
    level = [(folder, "")]
    for d in range(depth):
        nxt = []
        for path, prefix in level:
            try:
                with os.scandir(path) as it:
                    entries = sorted((e.name, e.is_dir()) for e in it if not e.name.startswith("."))
            except OSError:
                continue
            for name, is_dir in entries:
                if len(out) >= limit:
                    return out
                out.append(f"{prefix}{name}/" if is_dir else f"{prefix}{name}")
                if is_dir and name not in _SKIP_DIRS and d + 1 < depth:
                    nxt.append((path / name, f"{prefix}{name}/"))
        level = nxt
    return out


def nearest(names: Sequence[str], wanted: Sequence[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``names`` most like any of ``wanted`` (case-insensitive, on the last
    path component), best first; names nothing like them are left out."""
    want = [w.strip("/").lower() for w in list(wanted)[:20]]
    if not want:
        return []
    scored = []
    for name in names:
        base = name.rstrip("/").rsplit("/", 1)[-1].lower()
        scored.append((max(difflib.SequenceMatcher(None, base, w).ratio() for w in want), name))
    scored.sort(key=lambda t: -t[0])
    return [name for r, name in scored[:n] if r >= 0.4]


def found_text(folder: Path, wanted: Sequence[str], depth: int = 1) -> str:
    """What ``folder`` holds, for an error message: everything when it is little, else the
    count and the entries nearest to ``wanted``."""
    if not folder.is_dir():
        return f"{folder} does not exist"
    names = entry_names(folder, depth)
    if not names:
        return f"found nothing in {folder}"
    if len(names) <= 5:
        return f"found in {folder}: {', '.join(names)}"
    near = nearest(names, wanted) or names[:3]
    count = f"{len(names)}+" if len(names) >= 400 else str(len(names))
    return f"found {count} entries in {folder}, nearest: {', '.join(near)}"


def require_root(root: Path, what: str, hint: str = "") -> Path:
    """``root`` if it is a folder, else a :class:`LayoutError` that also names the nearest
    folders next to it (``UCF101/`` when ``ucf101`` was given)."""
    if root.is_dir():
        return root
    found = found_text(root.parent, [root.name]) if root.parent.is_dir() else f"{root.parent} does not exist"
    raise LayoutError(f"{root}: missing {what}; {found}" + (f"; {hint}" if hint else ""))


def find_class_root(root: Path, classes: Sequence[str], what: str, hint: str, near: Path | None = None) -> Path:
    """The folder that holds the class folders of an action dataset: ``root`` or the
    shallowest folder up to two levels below it with the most sub-folders named like
    ``classes`` (case-insensitive). With ``near`` (the folder the split files were found
    in), the search starts from its parent when that is below ``root``, so that lists and
    videos found together belong together.

    Raises:
        LayoutError: no such folder; the message lists what was found nearest.
    """
    wanted = {c.lower() for c in classes}

    def score(p: Path) -> int:
        return sum(c.name.lower() in wanted for c in child_dirs(p))

    found = None
    if near is not None and near.parent != root and near.parent.is_relative_to(root):
        found = find_folder(near.parent, score)
    found = found or find_folder(root, score)
    if found is None:
        examples = ", ".join(f"{c}/" for c in classes[:3])
        raise LayoutError(f"{root}: expected the {what} class folders ({examples}... {len(classes)} in all) in it "
                          f"or up to two levels below; {found_text(root, classes, depth=2)}; {hint}")
    return found


def layout_form(root: Path, folder: Path, what: str) -> str:
    """``flat`` when ``folder`` is ``root``, else ``nested: <what> in <folder relative to root>/``."""
    if folder == root:
        return "flat"
    try:
        rel = folder.relative_to(root)
    except ValueError:
        return f"{what} in {folder}"
    return f"nested: {what} in {rel}/"


# ----------------------------------------------------------------------------- class names

ACTION_FAMILY = "action"
ACTION_QUESTION = "Which action is shown in these video frames?"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def readable_class_name(name: str) -> str:
    """A class folder name as words: ``ApplyEyeMakeup`` -> ``apply eye makeup``,
    ``brush_hair`` -> ``brush hair``, ``YoYo`` -> ``yo yo``."""
    s = _CAMEL.sub(" ", name.replace("_", " ").replace("-", " "))
    return " ".join(s.lower().split())


def action_query(class_name: str, classes: list[str], question: str = ACTION_QUESTION) -> Query:
    """The utility query of an action clip: the question, the readable class names as
    choices, the clip's class as the answer."""
    names = [readable_class_name(c) for c in classes]
    return Query(family=ACTION_FAMILY, prompt=question, answers=(readable_class_name(class_name),),
                 choices=tuple(names))


# ----------------------------------------------------------------------------- registry

Loader = Callable[..., tuple[list[Item], ImportReport]]
Detector = Callable[..., Layout]
IMPORTERS: dict[str, Loader] = {}
DETECTORS: dict[str, Detector] = {}


def register_importer(name: str, detect: Detector | None = None) -> Callable[[Loader], Loader]:
    """Register a loader ``fn(root, **options) -> (items, report)`` under ``name``, and
    ``detect(root, **options) -> Layout``, what it reads first (``--check`` prints it)."""

    def deco(fn: Loader) -> Loader:
        if name in IMPORTERS:
            raise ValueError(f"importer {name!r} is already registered")
        IMPORTERS[name] = fn
        if detect is not None:
            DETECTORS[name] = detect
        return fn

    return deco


def _load_builtin() -> None:
    import veil.data.hmdb51
    import veil.data.okvqa
    import veil.data.pahmdb51
    import veil.data.ucf101
    import veil.data.vispr  # noqa: F401


def get_importer(name: str) -> Loader:
    """The loader registered as ``name``.

    Raises:
        UnknownNameError: no such loader.
    """
    _load_builtin()
    try:
        return IMPORTERS[name]
    except KeyError:
        raise UnknownNameError("dataset", name, list(IMPORTERS)) from None


_INTERNAL_OPTIONS = ("root", "out_dir", "dry_run")


def _loader_options(name: str, loader: Loader, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` without the Nones; an option ``loader`` does not take is a ConfigError."""
    opts = {k: v for k, v in options.items() if v is not None}
    params = inspect.signature(loader).parameters
    bad = sorted(k for k in opts if k not in params or k in _INTERNAL_OPTIONS)
    if bad:
        allowed = [p for p in params if p not in _INTERNAL_OPTIONS]
        raise ConfigError(f"dataset {name!r} does not take option(s) {', '.join(bad)}; it takes: {', '.join(allowed)}")
    return opts


def detect_layout(name: str, root: str | os.PathLike[str], **options: Any) -> Layout:
    """Where dataset ``name``'s parts are under ``root`` (the options the loader takes that
    place them, such as ``lists`` or ``annotations``, are honoured); reads no media.

    Raises:
        UnknownNameError: unknown dataset name.
        ConfigError: an option the loader does not take.
        LayoutError: a part is not found; the message names it and what was found nearest.
    """
    loader = get_importer(name)
    opts = _loader_options(name, loader, options)
    detect = DETECTORS.get(name)
    if detect is None:
        return Layout(name, Path(root), form="(this loader has no detector)")
    params = inspect.signature(detect).parameters
    return detect(Path(root), **{k: v for k, v in opts.items() if k in params})


def _no_items(name: str, root: str | os.PathLike[str], report: ImportReport) -> LayoutError:
    skipped = "; ".join(f"skipped {n}: {r}" for r, n in report.skipped.items()) or "nothing was listed"
    return LayoutError(f"{root}: no {name} items found ({skipped}); check the layout with "
                       f"`veil data import {name} --root {root} --check`")


def check_dataset(name: str, root: str | os.PathLike[str], **options: Any) -> ImportReport:
    """Read dataset ``name`` as :func:`import_dataset` does, but write nothing (no manifest,
    no extracted frames): the report says what an import would keep and skip, and where
    the layout's parts are (``report.layout``).

    Raises:
        UnknownNameError, ConfigError, LayoutError: as :func:`import_dataset`.
    """
    loader = get_importer(name)
    opts = _loader_options(name, loader, options)
    if "dry_run" in inspect.signature(loader).parameters:
        opts["dry_run"] = True
    items, report = loader(Path(root), **opts)
    if not items:
        raise _no_items(name, root, report)
    return report


def import_dataset(
    name: str, root: str | os.PathLike[str], out: str | os.PathLike[str], **options: Any
) -> ImportReport:
    """Read dataset ``name`` from ``root`` in its published layout and write a manifest.

    Options that are None are left at the loader's defaults; an option the loader does
    not take is refused with the list of those it does.

    Raises:
        UnknownNameError: unknown dataset name.
        ConfigError: an option the loader does not take.
        LayoutError: the folder does not follow the published layout.
    """
    loader = get_importer(name)
    opts = _loader_options(name, loader, options)
    if "out_dir" in inspect.signature(loader).parameters:
        opts["out_dir"] = Path(out).parent
    items, report = loader(Path(root), **opts)
    if not items:
        raise _no_items(name, root, report)
    report.out = write_manifest(out, items)
    return report
