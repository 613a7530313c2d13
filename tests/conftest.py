"""Fixtures shared by the whole test suite.

``street_manifest`` builds the embedded street scenario once per session (seed 0, the
default the demo uses) so that tests of the CLI, the evaluator and the demo run on real
media. The seed-independent vtest annotation pass is cached in ``street_cache`` so that
tests that rebuild the scenario (determinism, other seeds) stay fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Tests run from any folder: point at the repository's media unless told otherwise.
if "VEIL_MEDIA" not in os.environ and (REPO / ".media").is_dir():
    os.environ["VEIL_MEDIA"] = str(REPO / ".media")


@pytest.fixture(scope="session")
def street_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder for the street scenario's seed-independent annotation pass."""
    return tmp_path_factory.mktemp("street-cache")


@pytest.fixture(scope="session")
def street_manifest(tmp_path_factory: pytest.TempPathFactory, street_cache: Path) -> Path:
    """Manifest of the street scenario (seed 0) built once into ``<tmp>/data/street``."""
    from veil.data.street import prepare_street

    root = tmp_path_factory.mktemp("data")
    return prepare_street(root, seed=0, progress=False, cache_dir=street_cache)
