"""The review UI (``veil ui``): a local web page to see what leaves, turn the dial and ask the black box.

:func:`veil.ui.app.create_app` builds the FastAPI app; :mod:`veil.ui.core` holds the logic.
"""

from __future__ import annotations

__all__ = ["UIConfig", "create_app", "serve"]

from veil.ui.app import create_app, serve
from veil.ui.core import UIConfig
