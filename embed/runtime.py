"""Process-wide settings of the runtime, applied once by an entry point (the CLI's commands, the server's start),
never as a side effect of building an object: a library caller keeps the settings it chose.

Importing this module is cheap (torch is imported when a setting is applied).
This module imports nothing from styledex.
"""

from __future__ import annotations

__all__ = ["configure_threads"]


def configure_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count for the whole process (config ``embed.threads``); ``None`` or 0 keeps
    torch's default (one thread per core)."""
    if not threads:
        return
    import torch

    torch.set_num_threads(threads)
