"""OK-VQA (Marino et al., CVPR 2019) in its published layout -> a Veil manifest.

Layout read (the official JSON files as their zips extract, the COCO images as
``train2014.zip`` / ``val2014.zip`` extract)::

    OpenEnded_mscoco_<coco>_questions.json   {"questions": [{"image_id", "question", "question_id"}]}
    mscoco_<coco>_annotations.json           {"annotations": [{"question_id", "answers": [{"answer", ...} x10]}]}
    <coco>/COCO_<coco>_<12-digit image id>.jpg

with ``<coco>`` = ``train2014`` (OK-VQA train -> split ``train``) and ``val2014`` (OK-VQA
test -> split ``test``). Each JSON file is looked for in ``root``, in ``root/Questions/``
or ``root/Annotations/`` (the VQA tools' layout), then up to two levels below ``root``.
The image folder is ``--images`` (``images/<coco>/`` or ``images/`` itself), else
``root/<coco>``, ``root/images/<coco>``, ``root/Images/mscoco/<coco>`` (the VQA tools'),
``root/coco/<coco>``, a ``<coco>`` folder up to three levels below ``root``, or one next
to ``root``. A split is read when both its JSON files are there: with only val2014 (what
an evaluation needs) the import has test items only and says so; a split with only one
of its two files is an error naming the other. ``splits=`` asks for given splits, each
then required. Each answer's ``answer`` field is used (in v1.1 already
stemmed; score with ``vqa_accuracy(..., stem=True)``), duplicates kept: the metric counts
humans. One item per image; its questions are its ``vqa`` queries, each prompt the
question followed by :data:`INSTRUCTION` (what is sent to the black box).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from veil.data.importing import (
    ImportReport,
    Layout,
    LayoutError,
    find_file,
    find_folder,
    found_text,
    read_json,
    register_importer,
    require_root,
)
from veil.data.manifest import Item, Media, Query
from veil.errors import ConfigError

COCO_SPLITS: dict[str, str] = {"train2014": "train", "val2014": "test"}
VQA_FAMILY = "vqa"
# Short answers are what the metric matches; the wording avoids steering any black box.
INSTRUCTION = "Answer briefly, in as few terms as possible."


def coco_image_name(coco_split: str, image_id: int) -> str:
    """``COCO_val2014_000000010825.jpg`` for (``val2014``, 10825)."""
    return f"COCO_{coco_split}_{int(image_id):012d}.jpg"


def question_file(coco: str) -> str:
    return f"OpenEnded_mscoco_{coco}_questions.json"


def annotation_file(coco: str) -> str:
    return f"mscoco_{coco}_annotations.json"


def _find_json(root: Path, name: str, vqa_dir: str) -> Path | None:
    for cand in (root / name, root / vqa_dir / name):
        if cand.is_file():
            return cand
    return find_file(root, [name])


def _holds_images(folder: Path, coco: str) -> bool:
    return folder.is_dir() and next(folder.glob(f"COCO_{coco}_*.jpg"), None) is not None


def find_image_dir(root: Path, images: Path | None, coco: str) -> Path:
    """The folder of ``COCO_<coco>_*.jpg`` files (module docstring).

    Raises:
        LayoutError: none found; the message names the places looked in and the nearest entries.
    """
    if images is not None:
        cands = [images / coco, images]
    else:
        cands = [root / coco, root / "images" / coco, root / "Images" / "mscoco" / coco, root / "Images" / coco,
                 root / "coco" / coco, root, root.parent / coco, root.parent / "coco" / coco]
    for cand in cands:
        if _holds_images(cand, coco):
            return cand
    found = None if images is not None else find_folder(root, lambda p: int(p.name == coco and _holds_images(p, coco)),
                                                        depth=3)
    if found is not None:
        return found
    where = images if images is not None else root
    raise LayoutError(
        f"missing OK-VQA {coco} images: expected a folder {coco}/ of COCO_{coco}_<12-digit id>.jpg (what {coco}.zip "
        f"extracts to) in {where}, {where}/images or {where}/Images/mscoco, or up to three levels below it; "
        f"{found_text(where, [coco, 'images', 'Images', 'coco'], depth=2)}; "
        f"unzip {coco}.zip there or pass --images DIR")


def _split_files(root: Path, coco: str) -> tuple[Path | None, Path | None]:
    return _find_json(root, question_file(coco), "Questions"), _find_json(root, annotation_file(coco), "Annotations")


def detect_okvqa(root: Path, images: Path | None = None, splits: tuple[str, ...] | None = None) -> Layout:
    """Where each split's question and annotation files and images are (module docstring).

    Raises:
        ConfigError: an unknown split.
        LayoutError: no split found, a split asked for that is absent, a split with one of its
            two JSON files, or its images not found; the message names what was found.
    """
    root = Path(root)
    require_root(root, "OK-VQA folder", "pass --root the folder the OK-VQA zips were unpacked in")
    asked = tuple(splits) if splits is not None else tuple(COCO_SPLITS)
    for coco in asked:
        if coco not in COCO_SPLITS:
            raise ConfigError(f"unknown OK-VQA split {coco!r}; choose from {', '.join(COCO_SPLITS)}")
    layout = Layout("okvqa", root)
    present = []
    for coco in asked:
        q, a = _split_files(root, coco)
        if q is None and a is None:
            if splits is not None:
                raise LayoutError(
                    f"{root / question_file(coco)}: missing OK-VQA {coco} questions and annotations "
                    f"({question_file(coco)}, {annotation_file(coco)}) in {root}, its Questions/ and Annotations/ "
                    f"or up to two levels below; {found_text(root, [question_file(coco), annotation_file(coco)], 2)}")
            continue
        if q is None or a is None:
            have, name = (q, question_file(coco)) if q is not None else (a, annotation_file(coco))
            miss = annotation_file(coco) if q is not None else question_file(coco)
            assert have is not None
            raise LayoutError(f"{have.parent / miss}: missing, while {have} is there ({coco} needs both); "
                              f"unzip {miss}.zip next to {name} or leave out both to skip {coco}")
        layout.parts[f"{coco} questions"] = q
        layout.parts[f"{coco} annotations"] = a
        layout.parts[f"{coco} images"] = find_image_dir(root, Path(images) if images is not None else None, coco)
        present.append(coco)
    if not present:
        wanted = [question_file("val2014"), annotation_file("val2014"), question_file("train2014")]
        raise LayoutError(
            f"{root}: expected OK-VQA question and annotation files ({question_file('val2014')} and "
            f"{annotation_file('val2014')} for evaluation, the train2014 pair for training) in it, in Questions/ and "
            f"Annotations/, or up to two levels below; {found_text(root, wanted, depth=2)}; unzip the OK-VQA "
            "question and annotation zips there")
    json_dirs = {p.parent for k, p in layout.parts.items() if not k.endswith("images")}
    layout.form = "flat" if json_dirs == {root} else "nested: JSON files in " + ", ".join(
        sorted(layout.show(d) for d in json_dirs))
    for coco in asked:
        if coco not in present:
            layout.form += f"; {', '.join(present)} only"
            layout.notes.append(
                f"{coco} absent: {'evaluation only (OK-VQA test)' if coco == 'train2014' else 'no test split'}; "
                f"{'training' if coco == 'train2014' else 'evaluation'} needs {question_file(coco)}, "
                f"{annotation_file(coco)} and the {coco} images")
    return layout


@register_importer("okvqa", detect=detect_okvqa)
def load_okvqa(
    root: Path,
    images: Path | None = None,
    splits: tuple[str, ...] | None = None,
    instruction: str = INSTRUCTION,
    skip_missing: bool = False,
    limit: int | None = None,
) -> tuple[list[Item], ImportReport]:
    """OK-VQA images with their questions and human answers.

    Args:
        root: folder with the official questions and annotations JSON files.
        images: COCO image folder holding ``train2014/`` and ``val2014/`` (default: found as
            the module docstring says).
        splits: COCO splits to read, each required (default: those present, at least one).
        instruction: line appended to every question in the prompt ("" for none).
        skip_missing: skip questions whose image is missing (reported) instead of failing.
        limit: read at most this many questions per split (in file order).

    Raises:
        ConfigError: an unknown split.
        LayoutError: no split, a split asked for or half present (:func:`detect_okvqa`),
            malformed JSON files, an annotation without answers, a question whose image is
            missing (unless ``skip_missing``).
    """
    root = Path(root)
    layout = detect_okvqa(root, images, splits)
    report = ImportReport("okvqa", root, layout=layout)
    report.notes.append("OK-VQA train = COCO train2014 -> train; OK-VQA test = COCO val2014 -> test")
    report.notes.extend(layout.notes)
    items: list[Item] = []
    for coco in COCO_SPLITS:
        if f"{coco} questions" not in layout.parts:
            continue
        qpath, apath = layout.parts[f"{coco} questions"], layout.parts[f"{coco} annotations"]
        image_dir = layout.parts[f"{coco} images"]
        qdata, adata = read_json(qpath), read_json(apath)
        if not isinstance(qdata, dict) or not isinstance(qdata.get("questions"), list):
            raise LayoutError(f"{qpath}: expected an object with a 'questions' list")
        if not isinstance(adata, dict) or not isinstance(adata.get("annotations"), list):
            raise LayoutError(f"{apath}: expected an object with an 'annotations' list")
        answers: dict[int, list[str]] = {}
        for i, a in enumerate(adata["annotations"]):
            ans = a.get("answers") if isinstance(a, dict) else None
            if not isinstance(ans, list) or not ans or not all(
                isinstance(x, dict) and isinstance(x.get("answer"), str) for x in ans
            ):
                raise LayoutError(f"{apath}: annotations[{i}]: expected 'answers': [{{'answer': ...}}, ...]")
            answers[int(a["question_id"])] = [x["answer"] for x in ans]
        per_image: dict[int, list[tuple[int, str, list[str]]]] = defaultdict(list)
        not_ten = 0
        questions = qdata["questions"][:limit] if limit is not None else qdata["questions"]
        for i, q in enumerate(questions):
            if not isinstance(q, dict) or not {"image_id", "question", "question_id"} <= set(q):
                raise LayoutError(f"{qpath}: questions[{i}]: expected image_id, question and question_id")
            qid = int(q["question_id"])
            if qid not in answers:
                report.skip("question without annotation", str(qid))
                continue
            if len(answers[qid]) != 10:
                not_ten += 1
            per_image[int(q["image_id"])].append((qid, str(q["question"]), answers[qid]))
        if not_ten:
            report.notes.append(f"{coco}: {not_ten} questions have a number of answers other than 10 (kept)")
        for image_id, qs in per_image.items():
            path = image_dir / coco_image_name(coco, image_id)
            if not path.is_file():
                expected = path
                report.missing("image missing", str(expected),
                               f"{qpath}: question {qs[0][0]} refers to image {image_id}, not found at {expected} "
                               "(pass --skip-missing to skip such questions)", skip_missing)
                continue
            queries = tuple(
                Query(family=VQA_FAMILY, prompt=f"{text}\n{instruction}" if instruction else text,
                      answers=tuple(ans))
                for _, text, ans in qs
            )
            item = Item(
                id=f"okvqa-{coco}-{image_id}", split=COCO_SPLITS[coco], media=Media("image", str(path.resolve())),
                queries=queries, source=path.name, meta={"question_ids": [qid for qid, _, _ in qs]},
            )
            items.append(item)
            report.keep(item)
    return items, report
