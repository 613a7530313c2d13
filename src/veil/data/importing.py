"""Shared pieces of the public-benchmark loaders: layout errors, the import report, the
reading helpers that name the file at fault, and the registry behind ``veil data import``.

Each loader (``vispr``, ``ucf101``, ``hmdb51``, ``pahmdb51``, ``okvqa``) reads a dataset
in its *published* layout and returns manifest items plus an :class:`ImportReport` that
says what was kept and what was skipped and why. :func:`import_dataset` runs one by name
and writes the manifest atomically. Media paths in the written manifest are absolute, so
the manifest may live anywhere (the dataset is never copied).
"""

from __future__ import annotations

import inspect
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
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


def first_dir(candidates: Iterable[Path], what: str, hint: str = "") -> Path:
    """The first existing folder among ``candidates``; else an error listing all of them."""
    cands = list(candidates)
    for c in cands:
        if c.is_dir():
            return c
    raise LayoutError(f"missing {what}: looked in {', '.join(str(c) for c in cands)}" + (f"; {hint}" if hint else ""))


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
IMPORTERS: dict[str, Loader] = {}


def register_importer(name: str) -> Callable[[Loader], Loader]:
    """Register a loader ``fn(root, **options) -> (items, report)`` under ``name``."""

    def deco(fn: Loader) -> Loader:
        if name in IMPORTERS:
            raise ValueError(f"importer {name!r} is already registered")
        IMPORTERS[name] = fn
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
    opts = {k: v for k, v in options.items() if v is not None}
    params = inspect.signature(loader).parameters
    bad = sorted(k for k in opts if k not in params)
    if bad:
        allowed = [p for p in params if p not in ("root", "out_dir")]
        raise ConfigError(f"dataset {name!r} does not take option(s) {', '.join(bad)}; it takes: {', '.join(allowed)}")
    if "out_dir" in params:
        opts["out_dir"] = Path(out).parent
    items, report = loader(Path(root), **opts)
    if not items:
        raise LayoutError(f"{root}: no {name} items found; {report.summary()}")
    report.out = write_manifest(out, items)
    return report
