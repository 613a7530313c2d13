"""The process-wide thread cap reaches the libraries and the OCR sessions built after it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHECK = """
import json
from veil.threads import limit_threads, rapidocr_threads, thread_limit, opencv_threads
before = {"limit": thread_limit(), "ocr": rapidocr_threads(), "cv": opencv_threads(2)}
limit_threads(1)
import cv2, torch
from veil.anonymizers.guides import create_guide
from veil.privacy.pretrained import RapidOcrEngine
guide = create_guide("textcls")
guide_ocr = guide._engine().text_det.infer.session.get_session_options()
attack_ocr = RapidOcrEngine()._get().text_rec.session.session.get_session_options()
print(json.dumps({"before": before, "cv2": cv2.getNumThreads(), "torch": torch.get_num_threads(),
                  "cv": opencv_threads(2), "guide_ocr": guide_ocr.intra_op_num_threads,
                  "attack_ocr": attack_ocr.intra_op_num_threads}))
"""


def test_limit_reaches_opencv_torch_and_ocr_sessions() -> None:
    # a fresh process: the cap is process-wide and would slow the rest of the test session
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=300)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["before"] == {"limit": None, "ocr": {}, "cv": 2}
    assert got["cv2"] == 1 and got["torch"] == 1 and got["cv"] == 1
    assert got["guide_ocr"] == 1 and got["attack_ocr"] == 1


CAPPED = """
import json, cv2, torch
from veil.threads import capped_threads, thread_limit, rapidocr_threads
cv2.setNumThreads(2); torch.set_num_threads(2)
with capped_threads(1):
    inside = [thread_limit(), cv2.getNumThreads(), torch.get_num_threads(), rapidocr_threads()]
print(json.dumps({"inside": inside, "after": [thread_limit(), cv2.getNumThreads(), torch.get_num_threads(),
                                               rapidocr_threads()]}))
"""


def test_capped_block_restores_the_settings_before_it() -> None:
    out = subprocess.run([sys.executable, "-c", CAPPED], capture_output=True, text=True, check=True, timeout=300)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["inside"] == [1, 1, 1, {"intra_op_num_threads": 1, "inter_op_num_threads": 1}]
    assert got["after"] == [None, 2, 2, {}]


def test_limit_must_be_positive() -> None:
    from veil.threads import limit_threads

    with pytest.raises(ValueError, match=">= 1"):
        limit_threads(0)
