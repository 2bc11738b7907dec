"""One rule for tests that need an outside tool: skip with the reason, or fail where CI requires it."""

from __future__ import annotations

import os

import pytest


def skip_or_fail(reason: str | None, env: str, what: str) -> None:
    """Return if ``reason`` is None; else fail when ``env`` is ``"1"`` (as CI sets it), or skip.

    Parameters
    ----------
    reason : str or None
        Why the tool is missing, with the install command; None when it is there.
    env : str
        The environment variable that makes a missing tool a failure (``CLARITY_REQUIRE_VST3``).
    what : str
        What is unavailable, for the skip message.
    """
    if reason is None:
        return
    if os.environ.get(env) == "1":
        pytest.fail(f"{env}=1 but {reason}", pytrace=False)
    pytest.skip(f"{what} unavailable: {reason}")
