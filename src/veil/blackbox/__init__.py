"""Black boxes: the interface, the registry, and the built-in implementations.

Importing this package registers the reference black boxes (perception-model stand-ins,
``reference`` and ``reference-b``), so ``create_blackbox`` and ``BLACKBOXES.names()`` see
them.
"""

from veil.blackbox import reference  # noqa: F401  (register by import)
from veil.blackbox.base import BLACKBOXES, Answer, BlackBox, create_blackbox
from veil.blackbox.chat import answer_to_logprobs_content, images_to_messages, messages_to_query
from veil.blackbox.reference import (
    CANNOT_ANSWER,
    PerceptionBlackBox,
    ReferenceBlackBox,
    ReferenceBlackBoxB,
    classify_question,
)

__all__ = [
    "BLACKBOXES",
    "CANNOT_ANSWER",
    "Answer",
    "BlackBox",
    "PerceptionBlackBox",
    "ReferenceBlackBox",
    "ReferenceBlackBoxB",
    "answer_to_logprobs_content",
    "classify_question",
    "create_blackbox",
    "images_to_messages",
    "messages_to_query",
]
