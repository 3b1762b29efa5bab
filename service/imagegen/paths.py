"""Where imagegen writes files nobody named: one data directory, never the working directory.

Resolution order: `imagegen serve --data-dir DIR` (which sets IMAGEGEN_DATA_DIR, so worker
processes inherit it), then IMAGEGEN_DATA_DIR, then `$XDG_STATE_HOME/imagegen`, then
`~/.local/state/imagegen` (the XDG base directory default for state such as logs and histories).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "IMAGEGEN_DATA_DIR"
SPEND_LOG_FILE = "spend.sqlite3"


def data_dir() -> Path:
    """The directory for default data files (it may not exist yet; writers create it)."""
    explicit = os.environ.get(DATA_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    state_home = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(state_home) if os.path.isabs(state_home) else Path.home() / ".local" / "state"
    return base / "imagegen"


def default_spend_log_path() -> Path:
    """The SQLite spend log when `general_settings.spend_log_path` is not set."""
    return data_dir() / SPEND_LOG_FILE
