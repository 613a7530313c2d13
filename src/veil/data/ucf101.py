"""UCF101 (Soomro et al., 2012) in its published layout -> a Veil manifest of action clips.

Layout read::

    videos/<ClassName>/v_<ClassName>_gXX_cYY.avi    one folder per class
    lists/classInd.txt                              "1 ApplyEyeMakeup" (1-based labels)
    lists/trainlist0N.txt                           "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    lists/testlist0N.txt                            "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

``lists`` is the official ``ucfTrainTestlist`` folder (what
``UCF101TrainTestSplits-RecognitionTask.zip`` extracts to): ``--lists``, or looked for
inside ``root``, next to it, then in any folder up to two levels below ``root`` that
holds ``classInd.txt``. ``videos`` is the folder of class folders: ``root`` itself (flat)
or, as ``UCF101.rar`` extracts, ``root/UCF-101/`` (nested); the shallowest folder up to
two levels below ``root`` with the most sub-folders named as in ``classInd.txt`` is taken.
Splits N = 1, 2, 3. A train line's label must agree with its class folder. A listed
video whose exact name is missing is matched case-insensitively in its class folder (the
official lists write ``v_HandStandPushups`` for files in ``HandstandPushups``); if still
missing it is an error, or skipped with ``skip_missing``.

Each clip becomes a ``video`` item with one ``action`` query: the question, the readable
class names (``apply eye makeup``) as choices, its class as the answer.
"""

from __future__ import annotations

from pathlib import Path

from veil.data.importing import (
    ImportReport,
    Layout,
    LayoutError,
    action_query,
    find_case_insensitive,
    find_class_root,
    find_folder,
    found_text,
    layout_form,
    read_lines,
    register_importer,
    require_root,
)
from veil.data.manifest import Item, Media
from veil.errors import ConfigError

LISTS_DIR = "ucfTrainTestlist"
CLASS_INDEX = "classInd.txt"


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


def find_lists_dir(root: Path, lists: Path | None) -> Path:
    """The split-list folder: ``lists``, else ``ucfTrainTestlist`` in or next to ``root``,
    else the shallowest folder up to two levels below ``root`` holding ``classInd.txt``.

    Raises:
        LayoutError: none found; the message lists what was found nearest.
    """
    if lists is not None:
        return Path(lists)
    for cand in (root / LISTS_DIR, root.parent / LISTS_DIR):
        if (cand / CLASS_INDEX).is_file():
            return cand
    found = find_folder(root, lambda p: int((p / CLASS_INDEX).is_file()))
    if found is not None:
        return found
    raise LayoutError(
        f"missing UCF101 split lists folder {LISTS_DIR} ({CLASS_INDEX}, trainlist0N.txt, testlist0N.txt): looked in "
        f"{root / LISTS_DIR}, {root.parent / LISTS_DIR} and up to two levels below {root}; "
        f"{found_text(root, [LISTS_DIR, CLASS_INDEX], depth=2)}; "
        "unpack UCF101TrainTestSplits-RecognitionTask.zip there or pass --lists DIR")


def _detect(root: Path, lists: Path | None) -> tuple[Layout, list[str]]:
    require_root(root, "UCF101 folder", "pass --root the folder UCF101.rar was unpacked in")
    lists_dir = find_lists_dir(root, lists)
    classes = read_class_index(lists_dir / CLASS_INDEX)
    videos = find_class_root(root, classes, "UCF101", "unpack UCF101.rar (it extracts to UCF-101/<ClassName>/) "
                             "there or pass --root the folder that holds the class folders", near=lists_dir)
    layout = Layout("ucf101", root, layout_form(root, videos, "class folders"),
                    {"videos": videos, "lists": lists_dir})
    lower = {c.name.lower() for c in videos.iterdir() if c.is_dir()}
    absent = [c for c in classes if c.lower() not in lower]
    if absent:
        layout.notes.append(f"{len(absent)} of {len(classes)} classes have no folder in {videos}: "
                            f"{', '.join(absent[:3])}{'...' if len(absent) > 3 else ''}")
    return layout, classes


def detect_ucf101(root: Path, lists: Path | None = None) -> Layout:
    """Where the class folders and the split lists are (module docstring).

    Raises:
        LayoutError: either is not found; the message names the nearest entries found.
    """
    return _detect(Path(root), lists)[0]


@register_importer("ucf101", detect=detect_ucf101)
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
    if split not in (1, 2, 3):
        raise ConfigError(f"UCF101 has splits 1, 2 and 3, got {split}")
    layout, classes = _detect(root, lists)
    lists_dir, videos = layout.parts["lists"], layout.parts["videos"]
    index = {c: i for i, c in enumerate(classes)}
    lower = {c.lower(): c for c in classes}
    report = ImportReport("ucf101", root, classes=list(classes), layout=layout)
    report.notes.append(f"official split {split}; labels from {lists_dir / CLASS_INDEX}")
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
                raise LayoutError(f"{list_path}: line {n}: class {folder!r} is not in {lists_dir / CLASS_INDEX}")
            if kind == "train":
                if len(parts) != 2 or not parts[1].isdigit():
                    raise LayoutError(
                        f"{list_path}: line {n}: expected '<ClassName>/<video>.avi <label>', got {line!r}")
                if int(parts[1]) != index[cls] + 1:
                    raise LayoutError(
                        f"{list_path}: line {n}: label {parts[1]} disagrees with class folder {folder!r} "
                        f"(label {index[cls] + 1} in {CLASS_INDEX})"
                    )
            class_dir = videos / folder
            if not class_dir.is_dir():
                class_dir = videos / cls
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
