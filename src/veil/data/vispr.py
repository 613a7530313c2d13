"""VISPR (Orekondy et al., ICCV 2017) in its published layout -> a Veil manifest.

Layout read (``root`` is the folder that holds ``annotations/``)::

    root/attributes.tsv                                  the 68 attributes (a0_safe + 67 private)
    root/annotations/{train2017,val2017,test2017}/2017_XXXXXXXX.json
    root/<image_path from each JSON>                     usually images/<split>/2017_XXXXXXXX.jpg

Each annotation JSON has ``id``, ``image_path`` (relative to ``root``), ``labels`` (the
attribute ids present, e.g. ``a17_color``) and may have ``attributes`` and ``safe``.
``attributes.tsv`` is read for the attribute ids: the first tab-separated field of each
line that looks like ``a<number>_<name>`` (a header line, if any, is ignored).

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

import re
from pathlib import Path

from veil.data.importing import ImportReport, LayoutError, read_json, read_lines, register_importer, require_dir
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
_ATTR_ID = re.compile(r"^a\d+_\w+$")


def read_attribute_ids(path: Path) -> list[str]:
    """The attribute ids listed in ``attributes.tsv``, in file order."""
    ids = []
    for _, line in read_lines(path, "VISPR attribute list (attributes.tsv)"):
        first = line.split("\t")[0].strip()
        if _ATTR_ID.match(first):
            ids.append(first)
    if not ids:
        raise LayoutError(f"{path}: no attribute ids (lines starting with a<number>_<name>, e.g. a17_color)")
    return ids


def attribute_map(attributes: str, known: list[str]) -> dict[str, tuple[str, ...]]:
    """Output attribute name -> the VISPR ids that make it positive."""
    if attributes == "7":
        return {a: (a,) for a in SEVEN}
    if attributes == "5":
        return dict(GROUPS)
    if attributes == "all":
        return {a: (a,) for a in known}
    raise ConfigError(f"unknown VISPR attribute set {attributes!r}; choose one of: {', '.join(ATTRIBUTE_SETS)}")


@register_importer("vispr")
def load_vispr(
    root: Path,
    attributes: str = "7",
    splits: tuple[str, ...] = tuple(VISPR_SPLITS),
    skip_missing: bool = False,
    limit: int | None = None,
) -> tuple[list[Item], ImportReport]:
    """VISPR items with privacy attributes (no utility queries).

    Args:
        root: the VISPR folder (holding ``attributes.tsv`` and ``annotations/``).
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
    report = ImportReport("vispr", root)
    known = read_attribute_ids(root / "attributes.tsv")
    known_set = set(known)
    amap = attribute_map(str(attributes), known)
    for ids in amap.values():
        for a in ids:
            if a not in known_set:
                raise LayoutError(
                    f"{root / 'attributes.tsv'}: does not list attribute {a!r} that set {attributes} uses")
    report.attributes = list(amap)
    grouped = [f"{k} = any of {', '.join(v)}" for k, v in amap.items() if len(v) > 1 or v[0] != k]
    report.notes.append(f"attribute set {attributes}: {len(amap)} attributes" + (f" ({'; '.join(grouped)})"
                                                                                 if grouped else ""))
    items: list[Item] = []
    for vsplit in splits:
        if vsplit not in VISPR_SPLITS:
            raise ConfigError(f"unknown VISPR split {vsplit!r}; choose from {', '.join(VISPR_SPLITS)}")
        folder = require_dir(root / "annotations" / vsplit, f"VISPR split folder annotations/{vsplit}",
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
                    f"{ann_path}: unknown attribute(s) {', '.join(unknown)}; {root / 'attributes.tsv'} lists "
                    f"{len(known)} ids such as {', '.join(known[:3])}"
                )
            image = root / d["image_path"]
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
                attributes=attrs, source=str(ann_path.relative_to(root)),
                meta={"vispr_id": vid, "labels": labels},
            )
            items.append(item)
            report.keep(item)
    return items, report
