"""HMDB51 (Kuehne et al., ICCV 2011) in its published layout -> a Veil manifest of action clips.

Layout read::

    videos/<class>/<video>.avi                      one folder per class (brush_hair, ...)
    splits/<class>_test_split<N>.txt                "<video>.avi <flag>", flag 1 = train, 2 = test, 0 = unused

``splits`` is the official ``testTrainMulti_7030_splits`` folder (what
``test_train_splits.rar`` extracts to): ``--splits``, or looked for inside ``root``, next
to it, then in any folder up to two levels below ``root`` that holds split files.
``videos`` is the folder of class folders: ``root`` itself (flat) or, as the release
unpacks (``hmdb51_org.rar`` holds one ``<class>.rar`` per class), ``root/hmdb51_org/``
(nested); the shallowest folder up to two levels below ``root`` with the most
sub-folders named like split files is taken.

The classes are the ones that have split files, in sorted order (labels 0..50). Videos
flagged 0 are not in split N and are skipped (the report counts them). Every split file
must have its class folder, and every folder of videos beside the class folders its
split file; folders without videos there (the split folder, ``PrivacyAttributes``...)
are not classes and are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

from veil.data.importing import (
    ImportReport,
    Layout,
    LayoutError,
    action_query,
    child_dirs,
    find_class_root,
    find_folder,
    found_text,
    layout_form,
    nearest,
    read_lines,
    register_importer,
    require_dir,
    require_root,
)
from veil.data.manifest import Item, Media
from veil.errors import ConfigError

SPLITS_DIR = "testTrainMulti_7030_splits"
_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<n>\d)\.txt$")
FLAGS = {"1": "train", "2": "test"}
VIDEO_SUFFIXES = (".avi",)
UNPACK_HINT = ("unrar x hmdb51_org.rar hmdb51_org/, then each hmdb51_org/<class>.rar inside hmdb51_org/, "
               "or pass --root the folder that holds the class folders")


def _has_split_files(folder: Path) -> int:
    try:
        return sum(bool(_SPLIT_FILE.match(p.name)) for p in folder.iterdir())
    except OSError:
        return 0


def find_splits_dir(root: Path, splits: Path | None) -> Path:
    """The split-file folder: ``splits``, else ``testTrainMulti_7030_splits`` in or next to
    ``root``, else the shallowest folder up to two levels below ``root`` holding
    ``<class>_test_split<N>.txt`` files.

    Raises:
        LayoutError: none found; the message lists what was found nearest.
    """
    if splits is not None:
        return Path(splits)
    for cand in (root / SPLITS_DIR, root.parent / SPLITS_DIR):
        if cand.is_dir():
            return cand
    found = find_folder(root, _has_split_files)
    if found is not None:
        return found
    raise LayoutError(
        f"missing HMDB51 split folder {SPLITS_DIR} (<class>_test_split<N>.txt): looked in {root / SPLITS_DIR}, "
        f"{root.parent / SPLITS_DIR} and up to two levels below {root}; "
        f"{found_text(root, [SPLITS_DIR, 'test_train_splits'], depth=2)}; "
        "unpack test_train_splits.rar there or pass --splits DIR")


def read_split_flags(splits_dir: Path, split: int) -> dict[str, dict[str, str]]:
    """class -> {video file name: flag} from ``<class>_test_split<split>.txt`` files."""
    require_dir(splits_dir, "HMDB51 split folder")
    out: dict[str, dict[str, str]] = {}
    for p in sorted(splits_dir.iterdir()):
        m = _SPLIT_FILE.match(p.name)
        if not m or int(m.group("n")) != split:
            continue
        flags: dict[str, str] = {}
        for n, line in read_lines(p, "HMDB51 split file"):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise LayoutError(f"{p}: line {n}: expected '<video>.avi <0|1|2>', got {line!r}")
            flags[parts[0]] = parts[1]
        out[m.group("cls")] = flags
    if not out:
        raise LayoutError(f"{splits_dir}: no split files <class>_test_split{split}.txt; "
                          f"{found_text(splits_dir, [f'brush_hair_test_split{split}.txt'])}")
    return out


def holds_videos(folder: Path) -> bool:
    """Whether ``folder`` directly holds a video file (``.avi``)."""
    try:
        return any(p.suffix.lower() in VIDEO_SUFFIXES for p in folder.iterdir())
    except OSError:
        return False


def find_video_root(root: Path, classes: list[str], dataset: str = "HMDB51", named_by: str = "its split file",
                    near: Path | None = None) -> Path:
    """The folder of class folders (``root`` or e.g. ``root/hmdb51_org``), with every class
    of ``classes`` present; ``near`` as in :func:`veil.data.importing.find_class_root`.

    Raises:
        LayoutError: no such folder, or a class without its folder (nearest names given).
    """
    videos = find_class_root(root, classes, dataset, UNPACK_HINT, near)
    present = {p.name for p in child_dirs(videos)}
    for c in classes:
        if c not in present:
            near = nearest(sorted(f"{n}/" for n in present), [c]) or sorted(present)[:3]
            packed = videos / f"{c}.rar"
            hint = f"; unpack {packed} there" if packed.is_file() else ""
            raise LayoutError(f"{videos / c}: missing {dataset} class folder {c}/ ({named_by} names it); "
                              f"found {len(present)} class folders in {videos}, nearest: {', '.join(near)}{hint}")
    return videos


def _detect(root: Path, splits: Path | None, split: int) -> tuple[Layout, Path, dict[str, dict[str, str]]]:
    require_root(root, "HMDB51 folder", "pass --root the folder hmdb51_org.rar was unpacked in")
    splits_dir = find_splits_dir(root, splits)
    flags = read_split_flags(splits_dir, split)
    videos = find_video_root(root, sorted(flags), near=splits_dir)
    layout = Layout("hmdb51", root, layout_form(root, videos, "class folders"),
                    {"videos": videos, "splits": splits_dir})
    ignored = [p.name for p in child_dirs(videos) if p.name not in flags and p != splits_dir and not holds_videos(p)]
    if ignored:
        layout.notes.append(f"not class folders (no videos): {', '.join(ignored)}")
    return layout, splits_dir, flags


def detect_hmdb51(root: Path, splits: Path | None = None, split: int = 1) -> Layout:
    """Where the class folders and the split files are (module docstring).

    Raises:
        LayoutError: either is not found; the message names the nearest entries found.
    """
    return _detect(Path(root), splits, split)[0]


@register_importer("hmdb51", detect=detect_hmdb51)
def load_hmdb51(
    root: Path,
    split: int = 1,
    splits: Path | None = None,
    skip_missing: bool = False,
) -> tuple[list[Item], ImportReport]:
    """HMDB51 clips of official split ``split`` (flag 1 -> train, 2 -> test, 0 skipped).

    Raises:
        LayoutError: missing split folder or split file of a class folder, a split file
            without its class folder, malformed lines, missing videos (unless ``skip_missing``).
    """
    root = Path(root)
    if split not in (1, 2, 3):
        raise ConfigError(f"HMDB51 has splits 1, 2 and 3, got {split}")
    layout, splits_dir, flags = _detect(root, splits, split)
    videos = layout.parts["videos"]
    for d in child_dirs(videos):
        if d.name not in flags and d != splits_dir and holds_videos(d):
            raise LayoutError(f"{splits_dir / f'{d.name}_test_split{split}.txt'}: missing split file for class "
                              f"folder {d} (it holds videos); restore it from test_train_splits.rar or move the "
                              "folder out")
    classes = sorted(flags)
    report = ImportReport("hmdb51", root, classes=classes, layout=layout)
    report.notes.append(f"official split {split} from {splits_dir}; flag 0 videos are not part of the split")
    items: list[Item] = []
    for label, cls in enumerate(classes):
        split_file = splits_dir / f"{cls}_test_split{split}.txt"
        for fname, flag in flags[cls].items():
            if flag == "0":
                report.skip(f"flag 0 (unused in split {split})", f"{cls}/{fname}")
                continue
            video = videos / cls / fname
            if not video.is_file():
                report.missing("video missing", str(video), f"{split_file}: lists {fname} but {video} is missing "
                               "(pass --skip-missing to skip missing videos)", skip_missing)
                continue
            item = Item(
                id=f"hmdb51-{Path(fname).stem}", split=FLAGS[flag], media=Media("video", str(video.resolve())),
                queries=(action_query(cls, classes),), source=f"{cls}/{fname}",
                meta={"class": cls, "label": label, "dataset_split": split},
            )
            items.append(item)
            report.keep(item)
    return items, report
