"""The privacy objective's boxes and adversaries (veil/train/privacy.py), on rendered text."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from veil.anonymizers.networks import blur_tensor
from veil.data.manifest import Item, Media, PrivateText
from veil.errors import ConfigError
from veil.train.privacy import PrivacyObjective, item_boxes


def _item() -> Item:
    return Item(id="a", split="train", media=Media("image", "a.png"), faces=((10, 10, 30, 34),),
                private_text=(PrivateText("plate", "KX52 RTV", (218, 302, 368, 330)),
                              PrivateText("name", "ANA\nSILVA", (40, 40, 120, 90)),
                              PrivateText("phone", "0161 496 0734", (400, 40, 560, 70))))


def test_item_boxes_scale_and_keep_each_string_with_its_box() -> None:
    boxes = item_boxes(_item(), (320, 240), (640, 480), ["face", "plate", "name"])
    np.testing.assert_allclose(boxes["faces"], [[5, 5, 15, 17]])
    np.testing.assert_allclose(boxes["text"], [[109, 151, 184, 165], [20, 20, 60, 45]])
    np.testing.assert_allclose(boxes["read"], boxes["text"])
    assert boxes["strings"] == ["KX52 RTV", "ANA\nSILVA"]  # the phone is outside the policy
    assert item_boxes(_item(), (320, 240), (640, 480), ["phone"])["faces"].shape == (0, 4)


def _plate_scene() -> tuple[torch.Tensor, np.ndarray]:
    """A plate about 10 px tall at the 320x240 training size, and its box."""
    canvas = np.full((240, 320, 3), 140, np.uint8)
    cv2.rectangle(canvas, (104, 146), (190, 170), (245, 245, 235), -1)
    cv2.putText(canvas, "KX52 RTV", (109, 163), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (10, 10, 10), 1, cv2.LINE_AA)
    x = torch.from_numpy(canvas).permute(2, 0, 1)[None].float() / 255.0
    return x, np.array([[107, 151, 186, 166]], np.float32)


def test_the_recogniser_adversary_pushes_until_the_string_is_unreadable() -> None:
    """``ppocr-rec`` in the objective: a readable plate costs privacy loss with a gradient on
    the image; blurred until the recogniser cannot read it, the loss is near 0; items
    without private text add nothing."""
    x, box = _plate_scene()
    boxes = [{"faces": np.zeros((0, 4), np.float32), "text": box, "read": box, "strings": ["KX52 RTV"]},
             {"faces": np.zeros((0, 4), np.float32), "text": np.zeros((0, 4), np.float32),
              "read": np.zeros((0, 4), np.float32), "strings": []}]
    objective = PrivacyObjective(None, [], ["ppocr-rec"], 1.0, boxes)
    xr = x.clone().requires_grad_(True)
    clear = objective.loss(xr, [0])
    assert 0.3 < float(clear.detach()) < 1.0 and objective.last["ppocr-rec"] == pytest.approx(float(clear.detach()))
    clear.backward()
    assert xr.grad is not None and float(xr.grad.abs().sum()) > 0
    hidden = float(objective.loss(blur_tensor(x, 4.0), [0]))
    assert hidden < 0.05 < float(clear.detach())
    assert float(objective.loss(x, [1])) == 0.0 and "ppocr-rec" not in objective.last


def test_unknown_adversaries_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown adversaries"):
        PrivacyObjective(None, [], ["tesseract"], 1.0, [])
