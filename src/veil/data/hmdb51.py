"""HMDB51 (Kuehne et al., ICCV 2011) in its published layout -> a Veil manifest of action clips.

Layout read::

    root/<class>/<video>.avi                        one folder per class (brush_hair, ...)
    splits/<class>_test_split<N>.txt                "<video>.avi <flag>", flag 1 = train, 2 = test, 0 = unused

``splits`` is the official ``testTrainMulti_7030_splits`` folder, looked for inside
``root`` and next to it by default. The classes are the ones that have split files, in
sorted order (labels 0..50). Videos flagged 0 are not in split N and are skipped (the
report counts them). Every class folder must have its split file and every split file
its class folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from veil.data.importing import (
    ImportReport,
    LayoutError,
    action_query,
    first_dir,
    read_lines,
    register_importer,
    require_dir,
)
from veil.data.manifest import Item, Media
from veil.errors import ConfigError

SPLITS_DIR = "testTrainMulti_7030_splits"
_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<n>\d)\.txt$")
FLAGS = {"1": "train", "2": "test"}


def find_splits_dir(root: Path, splits: Path | None) -> Path:
    return Path(splits) if splits is not None else first_dir(
        [root / SPLITS_DIR, root.parent / SPLITS_DIR], f"HMDB51 split folder {SPLITS_DIR}",
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
        raise LayoutError(f"{splits_dir}: no split files <class>_test_split{split}.txt")
    return out


@register_importer("hmdb51")
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
    require_dir(root, "HMDB51 folder")
    if split not in (1, 2, 3):
        raise ConfigError(f"HMDB51 has splits 1, 2 and 3, got {split}")
    splits_dir = find_splits_dir(root, splits)
    flags = read_split_flags(splits_dir, split)
    class_dirs = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != SPLITS_DIR)
    for c in class_dirs:
        if c not in flags:
            raise LayoutError(f"{splits_dir / f'{c}_test_split{split}.txt'}: missing split file for class folder "
                              f"{root / c}")
    classes = sorted(flags)
    for c in classes:
        require_dir(root / c, f"class folder for split file {c}_test_split{split}.txt")
    report = ImportReport("hmdb51", root, classes=classes)
    report.notes.append(f"official split {split} from {splits_dir}; flag 0 videos are not part of the split")
    items: list[Item] = []
    for label, cls in enumerate(classes):
        split_file = splits_dir / f"{cls}_test_split{split}.txt"
        for fname, flag in flags[cls].items():
            if flag == "0":
                report.skip(f"flag 0 (unused in split {split})", f"{cls}/{fname}")
                continue
            video = root / cls / fname
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
