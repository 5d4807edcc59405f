"""Secrets never appear in anything understudy emits."""

from __future__ import annotations

import pytest

from understudy.redaction import redact


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Incorrect API key provided: sk-proj-abc123def456", "sk-proj-abc123def456"),
        ("header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "eyJhbGciOiJIUzI1NiJ9"),
        ("google said key=AIzaSyA-1234567890abcdefghij is invalid", "AIzaSyA-1234567890abcdefghij"),
        ("{'api_key': 'plain-value-here'}", "plain-value-here"),
    ],
)
def test_key_shaped_strings_are_masked(text: str, leak: str) -> None:
    masked = redact(text)
    assert leak not in masked and "***" in masked


def test_known_secret_values_are_masked_wherever_they_appear() -> None:
    assert redact("the key hunter2-long was rejected", ["hunter2-long"]) == "the key *** was rejected"


def test_ordinary_text_is_left_alone() -> None:
    text = "Rate limit reached for gpt-4o on requests per min. Please try again in 20s."
    assert redact(text) == text
