"""UCF101 (Soomro et al., 2012) in its published layout -> a Veil manifest of action clips.

Layout read::

    root/<ClassName>/v_<ClassName>_gXX_cYY.avi      one folder per class (the UCF-101 archive)
    lists/classInd.txt                              "1 ApplyEyeMakeup" (1-based labels)
    lists/trainlist0N.txt                           "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    lists/testlist0N.txt                            "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

``lists`` is the official ``ucfTrainTestlist`` folder; by default it is looked for inside
``root`` and next to it. Splits N = 1, 2, 3. A train line's label must agree with its
class folder. A listed video whose exact name is missing is matched case-insensitively
in its class folder (the official lists write ``v_HandStandPushups`` for files in
``HandstandPushups``); if still missing it is an error, or skipped with ``skip_missing``.

Each clip becomes a ``video`` item with one ``action`` query: the question, the readable
class names (``apply eye makeup``) as choices, its class as the answer.
"""

from __future__ import annotations

from pathlib import Path

from veil.data.importing import (
    ImportReport,
    LayoutError,
    action_query,
    find_case_insensitive,
    first_dir,
    read_lines,
    register_importer,
    require_dir,
)
from veil.data.manifest import Item, Media
from veil.errors import ConfigError

LISTS_DIR = "ucfTrainTestlist"


def read_class_index(path: Path) -> list[str]:
    """Class names in label order from ``classInd.txt`` (labels 1..N, each once)."""
    by_label: dict[int, str] = {}
    for n, line in read_lines(path, "UCF101 class index (classInd.txt)"):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise LayoutError(f"{path}: line {n}: expected '<label> <ClassName>', got {line!r}")
        label = int(parts[0])
        if label in by_label:
            raise LayoutError(f"{path}: line {n}: label {label} appears twice")
        by_label[label] = parts[1]
    want = list(range(1, len(by_label) + 1))
    if sorted(by_label) != want:
        raise LayoutError(f"{path}: labels must be 1..{len(by_label)} (1-based, no gaps)")
    return [by_label[i] for i in want]


@register_importer("ucf101")
def load_ucf101(
    root: Path,
    split: int = 1,
    lists: Path | None = None,
    skip_missing: bool = False,
) -> tuple[list[Item], ImportReport]:
    """UCF101 clips of official split ``split`` as manifest items (train and test).

    Raises:
        LayoutError: missing list files or class folders, malformed lines, label/folder
            disagreement, unknown classes, missing videos (unless ``skip_missing``).
    """
    root = Path(root)
    require_dir(root, "UCF101 folder")
    if split not in (1, 2, 3):
        raise ConfigError(f"UCF101 has splits 1, 2 and 3, got {split}")
    lists_dir = Path(lists) if lists is not None else first_dir(
        [root / LISTS_DIR, root.parent / LISTS_DIR], f"UCF101 split lists folder {LISTS_DIR}",
        "unpack UCF101TrainTestSplits-RecognitionTask.zip there or pass --lists DIR")
    classes = read_class_index(lists_dir / "classInd.txt")
    index = {c: i for i, c in enumerate(classes)}
    lower = {c.lower(): c for c in classes}
    report = ImportReport("ucf101", root, classes=list(classes))
    report.notes.append(f"official split {split}; labels from {lists_dir / 'classInd.txt'}")
    items: list[Item] = []
    seen: set[str] = set()
    for kind, msplit in (("train", "train"), ("test", "test")):
        list_path = lists_dir / f"{kind}list0{split}.txt"
        for n, line in read_lines(list_path, f"UCF101 {kind} list"):
            parts = line.split()
            rel = parts[0]
            folder, _, fname = rel.replace("\\", "/").partition("/")
            if not fname:
                raise LayoutError(f"{list_path}: line {n}: expected '<ClassName>/<video>.avi', got {line!r}")
            cls = lower.get(folder.lower())
            if cls is None:
                raise LayoutError(f"{list_path}: line {n}: class {folder!r} is not in {lists_dir / 'classInd.txt'}")
            if kind == "train":
                if len(parts) != 2 or not parts[1].isdigit():
                    raise LayoutError(
                        f"{list_path}: line {n}: expected '<ClassName>/<video>.avi <label>', got {line!r}")
                if int(parts[1]) != index[cls] + 1:
                    raise LayoutError(
                        f"{list_path}: line {n}: label {parts[1]} disagrees with class folder {folder!r} "
                        f"(label {index[cls] + 1} in classInd.txt)"
                    )
            class_dir = root / folder
            if not class_dir.is_dir():
                class_dir = root / cls
            video = find_case_insensitive(class_dir / fname)
            if video is None:
                report.missing("video missing", str(class_dir / fname),
                               f"{list_path}: line {n}: video not found at {class_dir / fname} "
                               "(pass --skip-missing to skip missing videos)", skip_missing)
                continue
            vid = Path(fname).stem
            if vid in seen:
                report.skip("listed twice", rel)
                continue
            seen.add(vid)
            item = Item(
                id=f"ucf101-{vid}", split=msplit, media=Media("video", str(video.resolve())),
                queries=(action_query(cls, classes),), source=rel,
                meta={"class": cls, "label": index[cls], "dataset_split": split},
            )
            items.append(item)
            report.keep(item)
    return items, report
