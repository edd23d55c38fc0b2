"""Where the local stack keeps its state (git-ignored)."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "state_dir", "logs_dir"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """The git-ignored folder of downloads, keys, secrets and logs."""
    path = Path(os.environ.get("WALLET_DEVSTACK_DIR") or REPO_ROOT / ".devstack")
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_dir() -> Path:
    path = state_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
