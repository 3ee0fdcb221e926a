"""Skips that CI may not take: with LAB_NO_SKIP=1 a missing requirement is a failure.

CI runs as root with every tool installed (.ci/run sets LAB_NO_SKIP=1), so a test that
would skip there is a test that silently stopped running. Use `require` instead of
`pytest.skip` for anything CI is expected to provide.
"""
from __future__ import annotations

import os

import pytest

__all__ = ["require", "no_skip"]


def no_skip() -> bool:
    return os.environ.get("LAB_NO_SKIP") == "1"


def require(condition: bool, reason: str) -> None:
    """Skip the calling test unless ``condition``; fail instead under LAB_NO_SKIP=1."""
    if condition:
        return
    if no_skip():
        pytest.fail(f"LAB_NO_SKIP=1 and the requirement is missing: {reason}", pytrace=False)
    pytest.skip(reason)
