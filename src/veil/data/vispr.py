"""VISPR (Orekondy et al., ICCV 2017) in its published layout -> a Veil manifest.

Layout read (``base`` is the folder that holds ``annotations/``)::

    attributes.tsv                                       the 68 attributes (a0_safe + 67 private)
    base/annotations/{train2017,val2017,test2017}/2017_XXXXXXXX.json
    base/<image_path from each JSON>                     usually images/<split>/2017_XXXXXXXX.jpg

This is the layout the dataset's tools read (their lists name
``annotations/train2017/2017_*.json`` under the dataset folder). The release ships one
image archive and one annotation archive per split (``<split>.tar.gz``,
``<split>_anno.tar.gz``), and how they land depends on where they are unpacked, so:

- ``base`` is ``root`` itself (flat) or the shallowest folder up to two levels below it
  (nested, e.g. ``root/VISPR2017-v1/``) with the most split folders; split folders of
  JSON files directly in ``base`` (``base/train2017/*.json``, no ``annotations/``) are
  accepted too;
- images are ``<R>/<image_path>`` for the first R of ``base``, ``root``, ``base``'s
  parent that holds the first annotation's image; else ``<F>/<split>/<file name>`` for
  the first F of the annotations' folder (images unpacked next to the JSON files),
  ``base/images``, ``root/images``, ``root`` that does; the rule found is used for all.

Each annotation JSON has ``id``, ``image_path`` (relative to the dataset folder),
``labels`` (the attribute ids present, e.g. ``a17_color``) and may have ``attributes``
and ``safe``. The attribute list (``attributes.tsv``, or ``attributes.csv``) is looked
for in ``root``, ``base``, up to two levels below ``root`` and next to ``root``. It is
read with or without a header row, tab- or comma-separated: the ids come from the
column named ``attribute_id`` (the form the dataset's own tools read: ``idx``,
``attribute_id``, ``group``, ``description``), else from the column whose cells look like
``a<number>_<name>``; a first row without such a cell is a header.

Attribute sets (``attributes=``):

- ``"7"``: the subset of the action-privacy literature (SPAct and others), under their
  VISPR ids: a4_gender, a9_face_complete, a10_face_partial, a12_semi_nudity, a17_color,
  a64_rel_personal, a65_rel_social;
- ``"5"``: Wu et al.'s groups of those seven, positive if any member is: ``gender``
  (a4), ``face`` (a9, a10), ``nudity`` (a12), ``skin_color`` (a17), ``relationship``
  (a64, a65). The names match the PA-HMDB51 loader's, so a VISPR-trained attacker can
  be scored on PA-HMDB51;
- ``"all"``: every attribute listed in ``attributes.tsv`` (a0_safe included), as is.

Splits: train2017 -> ``train``, val2017 -> ``val``, test2017 -> ``test``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from veil.data.importing import (
    ImportReport,
    Layout,
    LayoutError,
    find_file,
    find_folder,
    found_text,
    layout_form,
    read_json,
    register_importer,
    require_dir,
    require_file,
    require_root,
)
from veil.data.manifest import Item, Media
from veil.errors import ConfigError

VISPR_SPLITS: dict[str, str] = {"train2017": "train", "val2017": "val", "test2017": "test"}
SEVEN: tuple[str, ...] = (
    "a4_gender", "a9_face_complete", "a10_face_partial", "a12_semi_nudity", "a17_color",
    "a64_rel_personal", "a65_rel_social",
)
GROUPS: dict[str, tuple[str, ...]] = {
    "gender": ("a4_gender",),
    "face": ("a9_face_complete", "a10_face_partial"),
    "nudity": ("a12_semi_nudity",),
    "skin_color": ("a17_color",),
    "relationship": ("a64_rel_personal", "a65_rel_social"),
}
ATTRIBUTE_SETS = ("7", "5", "all")
ATTRIBUTE_FILES = ("attributes.tsv", "attributes.csv")
ID_COLUMNS = ("attribute_id", "attr_id")
_ATTR_ID = re.compile(r"^a\d+_\w+$")


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, stripped cells) of the non-empty lines; tab-separated when a tab
    occurs, else comma-separated when a comma does, else whitespace-separated."""
    require_file(path, "VISPR attribute list (attributes.tsv)")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    lines = [(n, ln) for n, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    delim = "\t" if "\t" in text else "," if "," in text else None
    if delim is None:
        return [(n, ln.split()) for n, ln in lines]
    return [(n, [c.strip() for c in cells]) for (n, _), cells in zip(lines, csv.reader(
        [ln for _, ln in lines], delimiter=delim), strict=True)]


def read_attribute_table(path: Path) -> tuple[list[str], str]:
    """The attribute ids of a VISPR attribute list in file order, and how they were read.

    Raises:
        LayoutError: no id column, a malformed id or an id listed twice (with the line).
    """
    rows = _rows(path)
    if not rows:
        raise LayoutError(f"{path}: empty; expected the VISPR attribute list (a0_safe, a1_age_approx, ...)")
    first = rows[0][1]
    header = None if any(_ATTR_ID.match(c) for c in first) else first
    data = rows[1:] if header is not None else rows
    names = [c.lower().replace(" ", "_").replace("-", "_") for c in header or []]
    col = next((names.index(k) for k in ID_COLUMNS if k in names), None)
    if col is None:
        width = max((len(cells) for _, cells in data), default=0)
        counts = [sum(j < len(cells) and bool(_ATTR_ID.match(cells[j])) for _, cells in data) for j in range(width)]
        if not counts or max(counts) == 0:
            raise LayoutError(
                f"{path}: no attribute ids: expected a column 'attribute_id' or a column of a<number>_<name> ids "
                f"(a17_color), with or without a header row; found first row {first!r}")
        col = counts.index(max(counts))
    label = header[col] if header is not None else f"column {col + 1}"
    ids: list[str] = []
    seen: set[str] = set()
    for n, cells in data:
        cell = cells[col] if col < len(cells) else ""
        if not cell:
            continue  # the dataset's tools skip rows with empty cells too
        if not _ATTR_ID.match(cell):
            raise LayoutError(f"{path}: line {n}: expected an attribute id like a17_color in {label}, got {cell!r}")
        if cell in seen:
            raise LayoutError(f"{path}: line {n}: attribute {cell} is listed twice")
        seen.add(cell)
        ids.append(cell)
    if not ids:
        raise LayoutError(f"{path}: no attribute ids under {label}")
    how = (f"header row ({', '.join(header)}), ids from {label}" if header is not None
           else f"no header row, ids from {label}")
    return ids, how


def read_attribute_ids(path: Path) -> list[str]:
    """The attribute ids listed in ``attributes.tsv``, in file order (:func:`read_attribute_table`)."""
    return read_attribute_table(path)[0]


def split_folder(base: Path, vsplit: str) -> Path | None:
    """``base/annotations/<vsplit>`` or ``base/<vsplit>`` if it holds JSON files."""
    for cand in (base / "annotations" / vsplit, base / vsplit):
        if cand.is_dir() and next(cand.glob("*.json"), None) is not None:
            return cand
    return None


def find_base(root: Path) -> Path:
    """The folder holding ``annotations/<split>/`` (module docstring).

    Raises:
        LayoutError: none up to two levels below ``root``; the nearest entries are named.
    """
    found = find_folder(root, lambda p: sum(split_folder(p, s) is not None for s in VISPR_SPLITS))
    if found is None:
        raise LayoutError(
            f"{root}: expected VISPR annotations (annotations/{{train2017,val2017,test2017}}/2017_*.json) in it or up "
            f"to two levels below; {found_text(root, ['annotations', *VISPR_SPLITS], depth=2)}; unpack the VISPR "
            "annotation and image archives there")
    return found


def find_attribute_file(root: Path, base: Path) -> Path:
    """``attributes.tsv`` (or ``.csv``) in ``root``, ``base``, up to two levels below ``root``
    or next to it.

    Raises:
        LayoutError: none found; the nearest entries are named.
    """
    for folder in (root, base):
        for name in ATTRIBUTE_FILES:
            if (folder / name).is_file():
                return folder / name
    found = find_file(root, ATTRIBUTE_FILES) or find_file(root.parent, ATTRIBUTE_FILES, depth=0)
    if found is not None:
        return found
    raise LayoutError(
        f"{root / 'attributes.tsv'}: missing VISPR attribute list attributes.tsv (idx, attribute_id, ...; it ships "
        f"with the dataset's tools): looked in {root}, {base}, up to two levels below {root} and in {root.parent}; "
        f"{found_text(root, ATTRIBUTE_FILES)}; copy it into {root}")


IMAGE_ROOT, IMAGE_FOLDERS = "image root", "image folders"


def _image_rule(root: Path, base: Path, ann: Path, splits: tuple[str, ...]) -> tuple[str, Path]:
    """How images are found, from the first annotation: (``image root``, R) when its image is
    ``R/<image_path>`` for R in ``base``, ``root``, ``base``'s parent; else (``image folders``,
    F) when it is ``F/<split>/<file name>`` for F in the annotations' own folder (images
    unpacked next to the JSON files), ``base/images``, ``root/images``, ``root``; else
    (``image root``, ``base``), so that errors name the path expected there."""
    for vsplit in splits:
        folder = split_folder(base, vsplit)
        first = next(iter(sorted(folder.glob("*.json"))), None) if folder is not None else None
        if first is None:
            continue
        d = read_json(first)
        rel = d.get("image_path") if isinstance(d, dict) else None
        if not isinstance(rel, str):
            break
        for cand in (base, root, base.parent):
            if (cand / rel).is_file():
                return IMAGE_ROOT, cand
        for cand in (ann, base / "images", root / "images", root):
            if (cand / vsplit / Path(rel).name).is_file():
                return IMAGE_FOLDERS, cand
        break
    return IMAGE_ROOT, base


def image_file(layout: Layout, vsplit: str, image_path: str) -> Path:
    """Where the image of an annotation is, by the rule :func:`detect_vispr` found."""
    if IMAGE_FOLDERS in layout.parts:
        return layout.parts[IMAGE_FOLDERS] / vsplit / Path(image_path).name
    return layout.parts[IMAGE_ROOT] / image_path


def detect_vispr(root: Path, splits: tuple[str, ...] = tuple(VISPR_SPLITS)) -> Layout:
    """Where the annotations, the images and the attribute list are (module docstring).

    Raises:
        LayoutError: the annotations or the attribute list are not found, or the attribute
            list is malformed; the message names the nearest entries found.
    """
    root = Path(root)
    require_root(root, "VISPR folder (attributes.tsv, annotations/<split>/)",
                 "pass --root the folder the VISPR archives were unpacked in")
    base = find_base(root)
    attributes = find_attribute_file(root, base)
    _, how = read_attribute_table(attributes)
    ann = base / "annotations" if any((base / "annotations" / s).is_dir() for s in VISPR_SPLITS) else base
    rule, images = _image_rule(root, base, ann, splits)
    layout = Layout("vispr", root, layout_form(root, base, "annotations"),
                    {"annotations": ann, rule: images, "attributes": attributes})
    layout.notes.append(f"{attributes.name}: {how}")
    if rule == IMAGE_FOLDERS:
        prefix = "" if images == root else layout.show(images)
        layout.notes.append(f"images read as {prefix}<split>/<file name of image_path>")
    for vsplit in splits:
        if split_folder(base, vsplit) is None:
            layout.notes.append(f"split {vsplit} absent (expected {ann / vsplit}/*.json)")
    return layout


def attribute_map(attributes: str, known: list[str]) -> dict[str, tuple[str, ...]]:
    """Output attribute name -> the VISPR ids that make it positive."""
    if attributes == "7":
        return {a: (a,) for a in SEVEN}
    if attributes == "5":
        return dict(GROUPS)
    if attributes == "all":
        return {a: (a,) for a in known}
    raise ConfigError(f"unknown VISPR attribute set {attributes!r}; choose one of: {', '.join(ATTRIBUTE_SETS)}")


@register_importer("vispr", detect=detect_vispr)
def load_vispr(
    root: Path,
    attributes: str = "7",
    splits: tuple[str, ...] = tuple(VISPR_SPLITS),
    skip_missing: bool = False,
    limit: int | None = None,
) -> tuple[list[Item], ImportReport]:
    """VISPR items with privacy attributes (no utility queries).

    Args:
        root: the VISPR folder (holding ``annotations/``, in it or up to two levels below).
        attributes: ``"7"``, ``"5"`` or ``"all"`` (module docstring).
        splits: VISPR splits to read.
        skip_missing: skip annotations whose image is missing (reported) instead of failing.
        limit: read at most this many annotations per split (sorted by file name).

    Raises:
        LayoutError: missing attributes.tsv or split folder, malformed annotation, an
            annotation naming a missing image (unless ``skip_missing``), a label that
            attributes.tsv does not list.
    """
    root = Path(root)
    for vsplit in splits:
        if vsplit not in VISPR_SPLITS:
            raise ConfigError(f"unknown VISPR split {vsplit!r}; choose from {', '.join(VISPR_SPLITS)}")
    layout = detect_vispr(root, tuple(splits))
    ann_root, attr_file = layout.parts["annotations"], layout.parts["attributes"]
    report = ImportReport("vispr", root, layout=layout)
    known = read_attribute_ids(attr_file)
    known_set = set(known)
    amap = attribute_map(str(attributes), known)
    for ids in amap.values():
        for a in ids:
            if a not in known_set:
                raise LayoutError(f"{attr_file}: does not list attribute {a!r} that set {attributes} uses")
    report.attributes = list(amap)
    grouped = [f"{k} = any of {', '.join(v)}" for k, v in amap.items() if len(v) > 1 or v[0] != k]
    report.notes.append(f"attribute set {attributes}: {len(amap)} attributes" + (f" ({'; '.join(grouped)})"
                                                                                 if grouped else ""))
    items: list[Item] = []
    for vsplit in splits:
        folder = require_dir(ann_root / vsplit, f"VISPR split folder annotations/{vsplit}",
                             "VISPR ships one JSON per image under annotations/<split>/")
        files = sorted(folder.glob("*.json"))
        if limit is not None:
            files = files[:limit]
        for ann_path in files:
            d = read_json(ann_path)
            if not isinstance(d, dict) or not isinstance(d.get("image_path"), str) or not isinstance(
                d.get("labels"), list
            ):
                raise LayoutError(f"{ann_path}: expected an object with 'image_path' (string) and 'labels' (list)")
            labels = [str(x) for x in d["labels"]]
            unknown = sorted(set(labels) - known_set)
            if unknown:
                raise LayoutError(
                    f"{ann_path}: unknown attribute(s) {', '.join(unknown)}; {attr_file} lists "
                    f"{len(known)} ids such as {', '.join(known[:3])}"
                )
            image = image_file(layout, vsplit, d["image_path"])
            if not image.is_file():
                report.missing("image missing", str(image),
                               f"{ann_path}: image_path {d['image_path']!r} not found at {image} "
                               "(pass --skip-missing to skip such annotations)", skip_missing)
                continue
            present = set(labels)
            attrs = {name: int(any(a in present for a in ids)) for name, ids in amap.items()}
            vid = str(d.get("id", ann_path.stem))
            item = Item(
                id=f"vispr-{vid}", split=VISPR_SPLITS[vsplit], media=Media("image", str(image.resolve())),
                attributes=attrs, source=ann_path.relative_to(root).as_posix(),
                meta={"vispr_id": vid, "labels": labels},
            )
            items.append(item)
            report.keep(item)
    return items, report
