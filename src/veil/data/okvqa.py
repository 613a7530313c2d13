"""OK-VQA (Marino et al., CVPR 2019) in its published layout -> a Veil manifest.

Layout read (``root`` holds the official JSON files; images default to ``root`` too)::

    root/OpenEnded_mscoco_<coco>_questions.json   {"questions": [{"image_id", "question", "question_id"}]}
    root/mscoco_<coco>_annotations.json           {"annotations": [{"question_id", "answers": [{"answer", ...} x10]}]}
    images/<coco>/COCO_<coco>_<12-digit image id>.jpg    (or directly images/COCO_...jpg)

with ``<coco>`` = ``train2014`` (OK-VQA train -> split ``train``) and ``val2014`` (OK-VQA
test -> split ``test``). Each answer's ``answer`` field is used (in v1.1 already
stemmed; score with ``vqa_accuracy(..., stem=True)``), duplicates kept: the metric counts
humans. One item per image; its questions are its ``vqa`` queries, each prompt the
question followed by :data:`INSTRUCTION` (what is sent to the black box).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from veil.data.importing import ImportReport, LayoutError, read_json, register_importer
from veil.data.manifest import Item, Media, Query
from veil.errors import ConfigError

COCO_SPLITS: dict[str, str] = {"train2014": "train", "val2014": "test"}
VQA_FAMILY = "vqa"
# Short answers are what the metric matches; the wording avoids steering any black box.
INSTRUCTION = "Answer briefly, in as few terms as possible."


def coco_image_name(coco_split: str, image_id: int) -> str:
    """``COCO_val2014_000000010825.jpg`` for (``val2014``, 10825)."""
    return f"COCO_{coco_split}_{int(image_id):012d}.jpg"


def _find_image(images: Path, coco_split: str, image_id: int) -> Path | None:
    name = coco_image_name(coco_split, image_id)
    for p in (images / coco_split / name, images / name):
        if p.is_file():
            return p
    return None


@register_importer("okvqa")
def load_okvqa(
    root: Path,
    images: Path | None = None,
    splits: tuple[str, ...] = tuple(COCO_SPLITS),
    instruction: str = INSTRUCTION,
    skip_missing: bool = False,
    limit: int | None = None,
) -> tuple[list[Item], ImportReport]:
    """OK-VQA images with their questions and human answers.

    Args:
        root: folder with the official questions and annotations JSON files.
        images: COCO image folder (default ``root``), holding ``train2014/`` and ``val2014/``.
        splits: COCO splits to read (``train2014``, ``val2014``).
        instruction: line appended to every question in the prompt ("" for none).
        skip_missing: skip questions whose image is missing (reported) instead of failing.
        limit: read at most this many questions per split (in file order).

    Raises:
        LayoutError: missing or malformed JSON files, an annotation without answers, a
            question whose image is missing (unless ``skip_missing``).
    """
    root = Path(root)
    images = Path(images) if images is not None else root
    report = ImportReport("okvqa", root)
    report.notes.append("OK-VQA train = COCO train2014 -> train; OK-VQA test = COCO val2014 -> test")
    items: list[Item] = []
    for coco in splits:
        if coco not in COCO_SPLITS:
            raise ConfigError(f"unknown OK-VQA split {coco!r}; choose from {', '.join(COCO_SPLITS)}")
        qpath = root / f"OpenEnded_mscoco_{coco}_questions.json"
        apath = root / f"mscoco_{coco}_annotations.json"
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
            path = _find_image(images, coco, image_id)
            if path is None:
                expected = images / coco / coco_image_name(coco, image_id)
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
