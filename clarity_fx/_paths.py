"""Path helpers light enough for every module (no numpy): the CLI imports them before any work."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["expand_user"]


def expand_user(path: str | os.PathLike[str]) -> Path:
    """``Path(path).expanduser()``, or the path as given when its ``~user`` names nobody.

    pathlib raises RuntimeError for ``~nobody/x.wav``; the shell leaves such a word alone,
    and so do we: the file is then simply not found, in one line.
    """
    try:
        return Path(path).expanduser()
    except RuntimeError:
        return Path(path)
