"""Fixtures of the review UI tests: a photo with a face, a name and a phone number, and small
saved models (an untrained guided-policy model, a film-unet with the privacy dial)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

HEADERS = {"X-Veil-UI": "1"}
QUESTION = "Is there a person in the image? Answer with exactly one of: yes; no."


def photo() -> np.ndarray:
    img = skdata.astronaut().copy()
    cv2.putText(img, "+1 555 0123 4567", (20, 420), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 0), 2)
    cv2.putText(img, "MARIA KOWALSKI", (20, 470), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 3)
    return img


@pytest.fixture(scope="session")
def photo_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JPEG with EXIF (camera make, GPS-like description): must not survive protection."""
    exif = Image.Exif()
    exif[0x010F] = "Veil UI test camera"
    exif[0x010E] = "secret place 52.52N 13.40E"
    buf = io.BytesIO()
    Image.fromarray(photo()).save(buf, "JPEG", quality=92, exif=exif.tobytes())
    path = tmp_path_factory.mktemp("ui-photo") / "astronaut.jpg"
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture(scope="session")
def guided_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained guided-policy model folder (what ``veil train --steps 0`` saves)."""
    from veil.anonymizers.learned import LearnedAnonymizer

    folder = tmp_path_factory.mktemp("ui-models") / "guided"
    LearnedAnonymizer(network="guided-policy", guide="faces+textcls+nudity", fixed_categories=["nudity"],
                      policy=["face", "nudity", "name", "phone", "plate", "email", "id", "unread"]).save(folder)
    return folder


@pytest.fixture(scope="session")
def film_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A film-unet model folder with random weights (untrained, it starts as the identity and
    ignores the dial): the privacy dial changes its output."""
    import torch

    from veil.anonymizers.learned import LearnedAnonymizer

    an = LearnedAnonymizer(network="film-unet")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in an.net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    folder = tmp_path_factory.mktemp("ui-models") / "film"
    an.save(folder)
    return folder


def gif_animated() -> bytes:
    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (0, 255)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    return buf.getvalue()
