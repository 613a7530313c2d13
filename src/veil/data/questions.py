"""Utility question families shared by scenario builders and the reference black box.

A prompt is a question followed by its choices on one line, the way one would ask a chat
model for a multiple-choice answer::

    How many people are in this image?
    Answer with exactly one of: 0; 1; 2; 3; 4; 5 or more.

``format_prompt`` writes that form and ``parse_prompt`` reads it back, so any backend (the
reference black box or a real MLLM) sees the same text.
"""

from __future__ import annotations

import re

COUNT_CHOICES: tuple[str, ...] = ("0", "1", "2", "3", "4", "5 or more")
YES_NO: tuple[str, ...] = ("yes", "no")

QUESTIONS: dict[str, str] = {
    "count": "How many people are in this image?",
    "presence": "Is there a person in this image?",
    "sign": "What does the public sign in this image say?",
}

_CHOICES_RE = re.compile(r"\n?\s*Answer with exactly one of:\s*(?P<choices>.+?)\.?\s*$", re.S)


def format_prompt(question: str, choices: tuple[str, ...] | list[str] | None) -> str:
    """Question plus, when given, the line listing the allowed answers.

    Idempotent: a prompt that already ends with its choices line is returned unchanged,
    so manifests may store prompts either bare or formatted.
    """
    if not choices or parse_prompt(question)[1] is not None:
        return question
    return f"{question}\nAnswer with exactly one of: {'; '.join(choices)}."


def parse_prompt(prompt: str) -> tuple[str, list[str] | None]:
    """Split a prompt written by ``format_prompt`` into (question, choices or None)."""
    m = _CHOICES_RE.search(prompt)
    if not m:
        return prompt.strip(), None
    choices = [c.strip() for c in m.group("choices").split(";") if c.strip()]
    return prompt[: m.start()].strip(), choices or None


def count_answer(n: int) -> str:
    """The count choice for ``n`` people."""
    return COUNT_CHOICES[min(max(n, 0), len(COUNT_CHOICES) - 1)]


def normalize_answer(s: str) -> str:
    """Answer text for matching: lower case, outer spaces and a final period dropped, spaces collapsed."""
    return " ".join(s.lower().strip().rstrip(".").split())
