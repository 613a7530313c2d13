"""Registry of embedded scenarios: a name -> a builder that writes a manifest and images.

``veil data prepare NAME`` and ``veil demo`` go through :func:`prepare_scenario`, so a new
scenario only needs an entry in :data:`SCENARIOS`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path

from veil.data.street import prepare_street
from veil.data.street_video import prepare_street_video
from veil.errors import UnknownNameError

Builder = Callable[..., Path]

SCENARIOS: dict[str, Builder] = {"street": prepare_street, "street-video": prepare_street_video}


def prepare_scenario(
    name: str,
    root: str | os.PathLike[str] = "data",
    seed: int = 0,
    quick: bool = False,
    progress: bool = True,
) -> Path:
    """Build (or reuse) scenario ``name`` under ``root`` and return its manifest path.

    ``quick`` asks for a smaller build where the scenario has one.

    Raises:
        UnknownNameError: ``name`` is not in :data:`SCENARIOS`.
    """
    try:
        builder = SCENARIOS[name]
    except KeyError:
        raise UnknownNameError("scenario", name, list(SCENARIOS)) from None
    kwargs: dict[str, object] = {"seed": seed, "progress": progress}
    if quick and "quick" in inspect.signature(builder).parameters:
        kwargs["quick"] = True
    return builder(Path(root), **kwargs)
