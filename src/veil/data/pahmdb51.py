"""PA-HMDB51 (Wu et al., TPAMI 2020) in its published layout -> a Veil manifest.

Layout read (as released in the VITA-Group/PA-HMDB51 repository)::

    annotations/<class>.json                 e.g. PrivacyAttributes/brush_hair.json
    videos/<class>/<video>.avi               the HMDB51 videos the JSON keys name

``videos`` is found as the HMDB51 loader finds it, in either HMDB51 layout: ``root``
itself (flat) or ``root/hmdb51_org/`` (nested, as the release unpacks). ``annotations``
is ``--annotations``, or a ``PrivacyAttributes`` (or ``HMDB51_PrivacyAttributes``)
folder inside ``root``, next to it, in a ``PA-HMDB51`` clone next to it, or up to two
levels below ``root``.

One JSON per action class maps each annotated video file name to its attributes::

    {"<video>.avi": {"skin_color": [[0, 280, 1]], "face": [[0, 128, 1], [129, 141, 2]],
                     "gender": [[0, 229, [1, 2]]], "nudity": [...], "relationship": [...],
                     "review": true, "note": ""}}

Each attribute is a list of ``[start, end, value]`` frame ranges, ``end`` inclusive
(the README's example labels frames 0-49 and 50-99 of a 100-frame video). Values are
ordinal codes with 0 meaning absent or invisible (skin colour 0 invisible / 1 white /
2 brown-yellow / 3 black; face 0 none / 1 partial / 2 complete; gender 0 invisible /
1 male / 2 female, a list such as ``[1, 2]`` when several people are seen; nudity 0-2;
relationship 0 / 1). ``review`` and ``note`` are bookkeeping, not attributes.

Assumptions, documented because the release does not spell them out:

- a frame is **positive** for an attribute when its value is not 0 (for a list, when any
  element is not 0), the binarization used by public conversions of PA-HMDB51 to VISPR
  style labels; the raw ranges are kept in ``meta.frame_ranges``;
- a frame no range covers is negative;
- a video's frame count is one past the largest annotated ``end``.

Attribute names are the five groups ``skin_color``, ``face``, ``gender``, ``nudity``,
``relationship`` (the VISPR loader's ``--attributes 5`` uses the same names). With
``frames=0`` (default) each video is one ``video`` item whose attributes are positive if
any frame is; with ``frames=N`` N frames are taken uniformly from each video, written as
PNG next to the manifest, and each becomes an ``image`` item with that frame's labels.
PA-HMDB51 is an evaluation set: every item is in split ``test`` unless ``split=N`` asks
for HMDB51's official split N (flag 1 -> train, 2 -> test, 0 skipped).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from veil.data.importing import (
    ImportReport,
    Layout,
    LayoutError,
    action_query,
    find_folder,
    found_text,
    layout_form,
    read_json,
    register_importer,
    require_root,
)
from veil.data.manifest import Item, Media

PA_ATTRIBUTES: tuple[str, ...] = ("skin_color", "face", "gender", "nudity", "relationship")
BOOKKEEPING = frozenset(("review", "note"))
ANNOTATIONS_DIR = "PrivacyAttributes"
ANNOTATION_DIR_NAMES = (ANNOTATIONS_DIR, "HMDB51_PrivacyAttributes")


def _check_value(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v >= 0
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                                       for x in v)


def _positive(v: int | list[int]) -> bool:
    return any(x != 0 for x in v) if isinstance(v, list) else v != 0


def parse_ranges(where: str, attr: str, ranges: Any) -> list[tuple[int, int, int | list[int]]]:
    """Validated ``[start, end, value]`` ranges of one attribute.

    Raises:
        LayoutError: naming ``where`` and the attribute when a range is malformed.
    """
    if not isinstance(ranges, list):
        raise LayoutError(f"{where}: {attr}: expected a list of [start, end, value] ranges, got {ranges!r}")
    out = []
    for r in ranges:
        if (not isinstance(r, list) or len(r) != 3 or not all(isinstance(x, int) and not isinstance(x, bool)
                                                                 for x in r[:2]) or not _check_value(r[2])):
            raise LayoutError(f"{where}: {attr}: expected [start, end, value] with integer frames, got {r!r}")
        s, e, v = r
        if s < 0 or e < s:
            raise LayoutError(f"{where}: {attr}: range {r!r} must have 0 <= start <= end")
        out.append((s, e, v))
    return out


def frame_labels(ranges: dict[str, list[tuple[int, int, Any]]], n_frames: int) -> dict[str, np.ndarray]:
    """Per-frame 0/1 labels (uint8, length ``n_frames``) of each attribute from its ranges
    (``end`` inclusive; value not 0 -> 1; frames no range covers -> 0)."""
    out = {}
    for attr, rs in ranges.items():
        lab = np.zeros(n_frames, np.uint8)
        for s, e, v in rs:
            if s < n_frames:
                lab[s:min(e, n_frames - 1) + 1] = 1 if _positive(v) else 0
        out[attr] = lab
    return out


def _is_annotation_dir(folder: Path) -> int:
    return int(folder.name in ANNOTATION_DIR_NAMES and any(folder.glob("*.json")))


def find_annotations_dir(root: Path, annotations: Path | None) -> Path:
    """The folder of ``<class>.json`` files (module docstring).

    Raises:
        LayoutError: none found; the message lists what was found nearest.
    """
    if annotations is not None:
        return Path(annotations)
    near = [root / n for n in ANNOTATION_DIR_NAMES] + [root.parent / n for n in ANNOTATION_DIR_NAMES]
    for cand in [*near, root.parent / "PA-HMDB51" / ANNOTATIONS_DIR]:
        if _is_annotation_dir(cand):
            return cand
    found = find_folder(root, _is_annotation_dir)
    if found is not None:
        return found
    raise LayoutError(
        f"missing PA-HMDB51 annotation folder {ANNOTATIONS_DIR} (<class>.json): looked in {root}, next to it and up "
        f"to two levels below it; {found_text(root, list(ANNOTATION_DIR_NAMES), depth=2)}; "
        "put the PrivacyAttributes folder of the PA-HMDB51 release next to the videos or pass --annotations DIR")


def _detect(root: Path, annotations: Path | None) -> tuple[Layout, list[Path]]:
    from veil.data.hmdb51 import find_video_root

    require_root(root, "HMDB51 video folder", "pass --root the folder hmdb51_org.rar was unpacked in")
    ann_dir = find_annotations_dir(root, annotations)
    files = sorted(ann_dir.glob("*.json"))
    if not files:
        raise LayoutError(f"{ann_dir}: no <class>.json annotation files; {found_text(ann_dir, ['brush_hair.json'])}")
    videos = find_video_root(root, [p.stem for p in files], "PA-HMDB51", "its annotation file <class>.json",
                             near=ann_dir)
    layout = Layout("pahmdb51", root, layout_form(root, videos, "HMDB51 class folders"),
                    {"videos": videos, "annotations": ann_dir})
    return layout, files


def detect_pahmdb51(root: Path, annotations: Path | None = None, splits: Path | None = None,
                    split: int | None = None) -> Layout:
    """Where the HMDB51 class folders, the annotation JSON files and (with ``split``) the
    HMDB51 split files are (module docstring).

    Raises:
        LayoutError: one is not found; the message names the nearest entries found.
    """
    from veil.data.hmdb51 import find_splits_dir

    layout = _detect(Path(root), annotations)[0]
    if split is not None:
        layout.parts["splits"] = find_splits_dir(Path(root), splits)
    return layout


@register_importer("pahmdb51", detect=detect_pahmdb51)
def load_pahmdb51(
    root: Path,
    annotations: Path | None = None,
    frames: int = 0,
    split: int | None = None,
    splits: Path | None = None,
    skip_missing: bool = False,
    out_dir: Path | None = None,
    dry_run: bool = False,
) -> tuple[list[Item], ImportReport]:
    """PA-HMDB51 videos (or ``frames`` frames of each) with privacy attributes and the
    HMDB51 action query.

    Args:
        root: the HMDB51 folder (class folders of .avi, in it or in ``hmdb51_org/`` below it).
        annotations: the ``PrivacyAttributes`` folder (default: found as the module docstring says).
        frames: 0 for one item per video, N for N frame items per video.
        split: HMDB51 official split for train/test (None: everything is ``test``).
        splits: HMDB51 split-file folder (for ``split``).
        skip_missing: skip annotated videos that are missing (reported) instead of failing.
        out_dir: where extracted frames go (``frames`` > 0), under ``pahmdb51_frames/``.
        dry_run: read no video and write no frame: frame items are counted from the
            annotated frame ranges (``veil data import --check``).

    Raises:
        LayoutError: a missing annotation folder, malformed JSON or ranges, an unknown
            attribute, an annotated video that is missing (unless ``skip_missing``).
    """
    from veil.data.hmdb51 import FLAGS, find_splits_dir, read_split_flags
    from veil.media import read_frames, save_image, video_info

    root = Path(root)
    if frames < 0:
        raise LayoutError(f"frames must be >= 0, got {frames}")
    if frames and out_dir is None and not dry_run:
        raise LayoutError("frames > 0 needs an output folder for the extracted frames")
    layout, files = _detect(root, annotations)
    videos = layout.parts["videos"]
    classes = [p.stem for p in files]
    flags = None
    if split is not None:
        layout.parts["splits"] = find_splits_dir(root, splits)
        flags = read_split_flags(layout.parts["splits"], split)
    report = ImportReport("pahmdb51", root, classes=classes, attributes=list(PA_ATTRIBUTES), layout=layout)
    report.notes.append("a frame is positive for an attribute when its value is not 0; uncovered frames are negative")
    report.notes.append("all items in split test" if split is None else f"HMDB51 official split {split}")
    frame_dir = Path(out_dir or ".") / "pahmdb51_frames" if frames else None
    if frames and dry_run:
        report.notes.append("check only: frames counted from the annotated ranges, none read or written")
    items: list[Item] = []
    for path in files:
        cls = path.stem
        data = read_json(path)
        if not isinstance(data, dict):
            raise LayoutError(f"{path}: expected an object mapping video file names to attributes")
        for vname, entry in data.items():
            where = f"{path}: {vname}"
            if not isinstance(entry, dict):
                raise LayoutError(f"{where}: expected an object of attribute -> ranges")
            unknown = sorted(k for k in entry if k not in PA_ATTRIBUTES and k not in BOOKKEEPING)
            if unknown:
                raise LayoutError(f"{where}: unknown attribute(s) {', '.join(unknown)}; PA-HMDB51 annotates "
                                  f"{', '.join(PA_ATTRIBUTES)} (and keeps {', '.join(sorted(BOOKKEEPING))})")
            ranges = {a: parse_ranges(where, a, entry[a]) for a in PA_ATTRIBUTES if a in entry}
            missing_attrs = [a for a in PA_ATTRIBUTES if a not in ranges]
            if missing_attrs:
                report.skip("item kept, attribute not annotated: taken as absent",
                            f"{vname}: {', '.join(missing_attrs)}")
            msplit = "test"
            if flags is not None:
                flag = flags.get(cls, {}).get(vname)
                if flag not in FLAGS:
                    report.skip(f"not in HMDB51 split {split}", f"{cls}/{vname}")
                    continue
                msplit = FLAGS[flag]
            video = videos / cls / vname
            if not video.is_file():
                report.missing("video missing", str(video), f"{where}: annotated video not found at {video} "
                               "(pass --skip-missing to skip missing videos)", skip_missing)
                continue
            n_frames = 1 + max((e for rs in ranges.values() for _, e, _ in rs), default=0)
            labels = frame_labels(ranges, n_frames)
            for a in PA_ATTRIBUTES:
                labels.setdefault(a, np.zeros(n_frames, np.uint8))
            raw = json.loads(json.dumps({a: [list(r) for r in rs] for a, rs in ranges.items()}))
            query = (action_query(cls, classes),)
            stem = Path(vname).stem
            if not frames:
                item = Item(
                    id=f"pahmdb51-{stem}", split=msplit, media=Media("video", str(video.resolve())), queries=query,
                    attributes={a: int(labels[a].any()) for a in PA_ATTRIBUTES}, source=f"{cls}/{vname}",
                    meta={"class": cls, "frame_ranges": raw, "n_frames": n_frames},
                )
                items.append(item)
                report.keep(item)
                continue
            available = n_frames if dry_run else min(n_frames, video_info(video)[1] or n_frames)
            idx = sorted({int(i) for i in np.linspace(0, available - 1, frames).round()})
            got = {} if dry_run else read_frames(video, idx)
            assert frame_dir is not None
            for i in idx:
                fpath = frame_dir / f"{stem}_{i:05d}.png"
                if not dry_run:
                    save_image(fpath, got[i])
                item = Item(
                    id=f"pahmdb51-{stem}-f{i:05d}", split=msplit, media=Media("image", str(fpath.resolve())),
                    queries=query, attributes={a: int(labels[a][i]) for a in PA_ATTRIBUTES},
                    source=f"{cls}/{vname}#{i}", meta={"class": cls, "frame": i},
                )
                items.append(item)
                report.keep(item)
    return items, report
