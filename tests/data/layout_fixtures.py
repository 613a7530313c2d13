"""Writers of tiny datasets in the published layouts of VISPR, UCF101, HMDB51, PA-HMDB51
and OK-VQA, for the loader, video and protocol tests: each flat (the layout the loaders
first read) and ``nested``, as the official archives extract (``UCF-101/``,
``hmdb51_org/``, ``VISPR2017-v1/``, the VQA tools' ``Questions/``, ``Annotations/``,
``Images/mscoco/``).

Everything is generated: small images with PIL/numpy and short MJPG ``.avi`` clips with
OpenCV, each clip a moving block whose colour depends on its class. The test modules
import this file by path (pytest runs with ``--import-mode=importlib``).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

VISPR_ATTRIBUTES = [
    ("a0_safe", "Safe"), ("a1_age_approx", "Approximate age"), ("a4_gender", "Gender"),
    ("a9_face_complete", "Complete face"), ("a10_face_partial", "Partial face"), ("a12_semi_nudity", "Semi-nudity"),
    ("a13_full_nudity", "Full nudity"), ("a17_color", "Skin colour"), ("a64_rel_personal", "Personal relationship"),
    ("a65_rel_social", "Social relationship"), ("a82_date_time", "Date/time"),
]
SEVEN = ["a4_gender", "a9_face_complete", "a10_face_partial", "a12_semi_nudity", "a17_color", "a64_rel_personal",
         "a65_rel_social"]


def write_image(path: Path, seed: int, size: tuple[int, int] = (48, 40)) -> Path:
    rng = np.random.default_rng(seed)
    im = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    im[: size[1] // 2] = rng.integers(0, 256, 3, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(im).save(path)
    return path


def write_video(path: Path, n_frames: int = 12, size: tuple[int, int] = (64, 48), color: int = 0) -> Path:
    """A short MJPG .avi: a block moving left to right over a flat background; frame i
    also carries i in its top-left pixel row (readable index for sampling tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    assert vw.isOpened(), f"cannot write {path}"
    hue = (37 * color) % 180
    for i in range(n_frames):
        frame = np.full((h, w, 3), 40, np.uint8)
        x = int(i * (w - 16) / max(1, n_frames - 1))
        frame[h // 3: h // 3 + 16, x: x + 16] = cv2.cvtColor(np.uint8([[[hue, 200, 230]]]), cv2.COLOR_HSV2BGR)[0, 0]
        frame[:8, :8] = 10 * i % 256
        vw.write(frame)
    vw.release()
    return path


VISPR_NESTED = "VISPR2017-v1"


def write_vispr_attributes(path: Path, header: bool = False, sep: str = "\t") -> Path:
    """The attribute list: with ``header`` as the dataset's tools ship it (columns idx,
    attribute_id, group, description; CRLF line ends, no final one), else ``<id><sep><name>``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if header:
        rows = [sep.join(("idx", "attribute_id", "group", "description"))]
        rows += [sep.join((str(i), a, "Group", d)) for i, (a, d) in enumerate(VISPR_ATTRIBUTES)]
        path.write_bytes("\r\n".join(rows).encode())
    else:
        path.write_text("".join(f"{a}{sep}{d}\n" for a, d in VISPR_ATTRIBUTES))
    return path


def make_vispr(root: Path, n: dict[str, int] | None = None, seed: int = 0, nested: bool = False,
               header: bool = False, attributes_name: str = "attributes.tsv") -> Path:
    """VISPR layout: attributes.tsv, annotations/<split>/2017_*.json, images/<split>/2017_*.jpg;
    ``nested``: annotations/ and images/ in root/VISPR2017-v1/, the attribute list in root."""
    n = n or {"train2017": 12, "val2017": 4, "test2017": 8}
    write_vispr_attributes(root / attributes_name, header, "," if attributes_name.endswith(".csv") else "\t")
    base = root / VISPR_NESTED if nested else root
    k = 0
    for split, count in n.items():
        for i in range(count):
            vid = f"2017_{10000000 + k:08d}"
            labels = [a for j, a in enumerate(SEVEN) if (i + j) % 3 == 0] if i % 5 != 4 else ["a0_safe"]
            rel = f"images/{split}/{vid}.jpg"
            write_image(base / rel, seed * 1000 + k)
            ann = {"id": vid, "image_path": rel, "labels": labels, "attributes": labels,
                   "safe": labels == ["a0_safe"]}
            p = base / "annotations" / split / f"{vid}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(ann))
            k += 1
    return root


UCF_CLASSES = ["ApplyEyeMakeup", "Basketball", "HandstandPushups"]


def make_ucf101(root: Path, classes: list[str] | None = None, n_train: int = 2, n_test: int = 1,
                frames: int = 12, nested: bool = False) -> Path:
    """UCF101 layout: root/<Class>/v_<Class>_gXX_cYY.avi and root/ucfTrainTestlist/*.txt
    (splits 1-3); ``nested``: the class folders in root/UCF-101/, as UCF101.rar extracts.
    HandstandPushups files are named v_HandStandPushups_... as in the release."""
    classes = classes or UCF_CLASSES
    videos = root / "UCF-101" if nested else root
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    for split in (1, 2, 3):
        train, test = [], []
        for ci, c in enumerate(classes):
            fname_c = "HandStandPushups" if c == "HandstandPushups" else c
            for g in range(n_train + n_test):
                name = f"v_{fname_c}_g{g + 8 * (split - 1) + 1:02d}_c01.avi"
                write_video(videos / c / name, frames, color=ci)
                if g < n_train:
                    train.append(f"{c}/{name} {ci + 1}")
                else:
                    test.append(f"{c}/{name}")
        (lists / f"trainlist0{split}.txt").write_text("\r\n".join(train) + "\r\n")
        (lists / f"testlist0{split}.txt").write_text("\r\n".join(test) + "\r\n")
    return root


HMDB_CLASSES = ["brush_hair", "ride_bike", "shake_hands"]


def make_hmdb51(root: Path, classes: list[str] | None = None, frames: int = 12, nested: bool = False) -> Path:
    """HMDB51 layout: root/<class>/<video>.avi and root/testTrainMulti_7030_splits/
    <class>_test_split<N>.txt with flags 1 (train), 2 (test), 0 (unused); ``nested``: the
    class folders in root/hmdb51_org/ next to the per-class archives they came from."""
    classes = classes or HMDB_CLASSES
    videos = root / "hmdb51_org" if nested else root
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True, exist_ok=True)
    for ci, c in enumerate(classes):
        names = [f"{c}_video_{j}_u_nm_np1_fr_goo_{j}.avi" for j in range(4)]
        for name in names:
            write_video(videos / c / name, frames, color=ci)
        if nested:
            (videos / f"{c}.rar").write_bytes(b"Rar!\x1a\x07\x00")
        for n in (1, 2, 3):
            flags = ["1", "1", "2", "0"]
            (splits / f"{c}_test_split{n}.txt").write_text("".join(f"{v} {f} \n" for v, f in zip(names, flags,
                                                                                                  strict=True)))
    return root


def make_pahmdb51(root: Path, classes: list[str] | None = None, nested: bool = False,
                  annotations: str = "PrivacyAttributes") -> Path:
    """PA-HMDB51: HMDB51 videos (make_hmdb51, flat or ``nested``) plus
    root/<annotations>/<class>.json (``annotations`` relative to root, e.g. ``../PA-HMDB51/PrivacyAttributes``)."""
    classes = classes or HMDB_CLASSES
    make_hmdb51(root, classes, nested=nested)
    ann = root / annotations
    ann.mkdir(parents=True, exist_ok=True)
    for ci, c in enumerate(classes):
        data = {}
        for j in range(2):
            v = f"{c}_video_{j}_u_nm_np1_fr_goo_{j}.avi"
            data[v] = {
                "skin_color": [[0, 11, 1]],
                "relationship": [[0, 11, ci % 2]],
                "face": [[0, 5, 2], [6, 11, 0]],
                "review": True,
                "nudity": [[0, 11, j]],
                "gender": [[0, 11, [1, 2]]] if j else [[0, 11, 0]],
                "note": "",
            }
        (ann / f"{c}.json").write_text(json.dumps(data, indent=4))
    return root


def make_okvqa(root: Path, n: dict[str, int] | None = None, nested: bool = False) -> Path:
    """OK-VQA layout: the official questions/annotations JSON files and COCO images
    <coco>/COCO_<coco>_<12-digit id>.jpg; 10 answers per question (5 answers twice).
    ``nested``: the VQA tools' layout, Questions/, Annotations/ and Images/mscoco/<coco>/.
    ``n`` with one split (``{"val2014": 4}``) writes that split only."""
    n = n or {"train2014": 6, "val2014": 4}
    root.mkdir(parents=True, exist_ok=True)
    qdir, adir = (root / "Questions", root / "Annotations") if nested else (root, root)
    images = root / "Images" / "mscoco" if nested else root
    qdir.mkdir(exist_ok=True)
    adir.mkdir(exist_ok=True)
    qid = 1
    for coco, count in n.items():
        questions, annotations = [], []
        for i in range(count):
            image_id = 100 + i + (0 if coco == "train2014" else 1000)
            write_image(images / coco / f"COCO_{coco}_{image_id:012d}.jpg", image_id)
            for k in range(1 + (i == 0)):
                answers = ["tennis", "tennis", "racket", "racket", "sport", "sport", "tennis", "tennis", "ball", "ball"]
                questions.append({"image_id": image_id, "question": f"What sport can you use this for? ({k})",
                                  "question_id": qid})
                annotations.append({"question_id": qid, "image_id": image_id, "question_type": "other",
                                    "answer_type": "other",
                                    "answers": [{"answer_id": j + 1, "raw_answer": a, "answer_confidence": "yes",
                                                 "answer": a} for j, a in enumerate(answers)]})
                qid += 1
        (qdir / f"OpenEnded_mscoco_{coco}_questions.json").write_text(json.dumps({"questions": questions}))
        (adir / f"mscoco_{coco}_annotations.json").write_text(json.dumps({"annotations": annotations}))
    return root
