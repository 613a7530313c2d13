"""The privacy objective of training (METHOD.md §2.2): what an attacker could still get.

Two kinds of local, white-box adversaries, each giving an exact gradient to the anonymizer:

* the learned attribute evaluator ensemble (:class:`veil.privacy.evaluator.PrivacyEvaluator`,
  the paper's adversarial privacy evaluator): entropy of its attribute predictions on the
  anonymized image, trained against it step by step;
* adversaries built from real pretrained models (:mod:`veil.privacy.adversaries`):
  CenterFace's response on each item's face boxes and the PP-OCRv4 text detector's response
  on its private-text boxes (only the kinds in the privacy policy) and on every line the
  guide could not read (``unread``: its content cannot be judged, so it counts as possibly
  private), at the full training resolution; and the PP-OCRv4 recogniser's likelihood of
  each private string, read from the crop of its box as an OCR attacker reads it. They see
  what the attribute classifier cannot: whether a face is still a face, whether private
  text is still text, and whether it can still be read (a recogniser reads lines the
  detector no longer finds).

``L_P = L_evaluator + w * mean_d r_d`` with, per adversary d, ``r_d`` the mean over the batch
of ``q / (1 + q)`` where ``q = -log(1 - p)`` and p is the detector's soft-maximum
probability inside the boxes (the recogniser's: the per-character likelihood of the true
string): bounded in [0, 1) so the adversaries weigh alike, with the slope of ``q`` (the
probability itself saturates at 1 on clear text and has no gradient).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from veil.data.manifest import Item
from veil.errors import ConfigError

#: Manifest attribute -> content category of the privacy policy.
ATTRIBUTE_CATEGORY = {"face": "face", "name_text": "name", "phone_text": "phone", "plate_text": "plate",
                      "email_text": "email", "id_text": "id"}
#: Which adversary attacks which boxes.
ADVERSARY_TARGET = {"centerface": "faces", "ppocr-det": "text", "ppocr-rec": "read"}


def item_boxes(item: Item, size: tuple[int, int], orig: tuple[int, int], policy: Sequence[str]
               ) -> dict[str, Any]:
    """The item's face and policy private-text boxes (N, 4) scaled from ``orig`` (w, h) to
    ``size`` (w, h): ``faces``, ``text`` (what the detectors attack; the trainer adds the
    unread lines) and ``read`` with its true ``strings`` (what the recogniser reads)."""
    sx, sy = size[0] / max(1, orig[0]), size[1] / max(1, orig[1])
    scale = np.array([sx, sy, sx, sy], np.float32)
    faces = [b for b in item.faces] if "face" in policy else []
    private = [t for t in item.private_text if t.kind in policy]
    text = np.asarray([t.box for t in private], np.float32).reshape(-1, 4) * scale
    return {"faces": np.asarray(faces, np.float32).reshape(-1, 4) * scale, "text": text, "read": text.copy(),
            "strings": [t.text for t in private]}


def map_boxes(channel: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Bounding boxes (N, 4) of the connected regions of one guide map (H, W) above ``threshold``."""
    import cv2

    n, _, stats, _ = cv2.connectedComponentsWithStats((channel > threshold).astype(np.uint8), connectivity=8)
    return np.array([[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:n]], np.float32).reshape(-1, 4)


class PrivacyObjective:
    """``L_P`` of a batch and the adversaries' own training step.

    Args:
        evaluator: the attribute evaluator ensemble.
        attributes: indices of the attributes it attacks (the policy's).
        adversaries: names of adversaries (``centerface``, ``ppocr-det``, ``ppocr-rec``).
        weight: weight of the adversaries' mean response.
        boxes: per privacy item, ``{"faces": (N, 4), "text": (M, 4)}`` at training resolution.
    """

    def __init__(self, evaluator: Any, attributes: Sequence[int], adversaries: Sequence[str], weight: float,
                 boxes: Sequence[dict[str, np.ndarray]]) -> None:
        from veil.privacy.adversaries import create_adversary

        unknown = sorted(set(adversaries) - set(ADVERSARY_TARGET))
        if unknown:
            raise ConfigError(f"unknown adversaries {unknown}; known: {', '.join(ADVERSARY_TARGET)}")
        self.evaluator, self.attributes, self.weight = evaluator, list(attributes), float(weight)
        self.boxes = list(boxes)
        self.adversaries = {name: create_adversary(name) for name in adversaries} if weight > 0 else {}
        self.last: dict[str, float] = {}

    def loss(self, xt: torch.Tensor, idx: Sequence[int]) -> torch.Tensor:
        """``L_P`` of the anonymized batch ``xt`` of privacy items ``idx`` (differentiable)."""
        total = self.evaluator.privacy_loss(xt, self.attributes) if self.attributes else xt.sum() * 0.0
        self.last = {"evaluator": float(total.detach())}
        responses = []
        for name, adv in self.adversaries.items():
            boxes = [self.boxes[i][ADVERSARY_TARGET[name]] for i in idx]
            has = torch.tensor([len(b) > 0 for b in boxes])
            if not bool(has.any()):
                continue
            if ADVERSARY_TARGET[name] == "read":  # the recogniser scores the true strings
                pen = adv.penalty(xt, boxes, [self.boxes[i]["strings"] for i in idx])[has]
            else:
                pen = adv.penalty(xt, boxes)[has]  # -log(1 - p): keeps a slope where p saturates at 1
            r = (pen / (1.0 + pen.detach())).mean()  # the value of p/(1+p) in [0, 1), the slope of pen
            self.last[name] = float(r.detach())
            responses.append(r)
        if responses:
            total = total + self.weight * torch.stack(responses).mean()
        return total

    def update(self, xt: torch.Tensor, labels: torch.Tensor, steps: int = 1) -> float:
        """Train the evaluator ensemble on the detached batch; returns its mean BCE."""
        return float(np.mean([self.evaluator.update(xt.detach(), labels) for _ in range(steps)]))
