"""The memory guard of the streamed path: whether the copies of an index would fit in the memory available now."""

from __future__ import annotations

from collections.abc import Callable

from styledex.embed.spaces import resolve
from styledex.index.policy import estimate_bytes_per_item

from .indexes import index_choice


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else None (the guard is skipped)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def memory_shortfall(
    variant: str, space: str, count: int, copies: int, probe: Callable[[], int | None] = available_memory_bytes
) -> str | None:
    """Why ``copies`` of the index would not fit in the memory available now (one line), or None if they fit.

    With HTTP the server in this process opens its own copy of the saved index beside the bench's, so a 1M flat
    or hnsw index of 2944-d vectors (~12 GB each) needs twice that. probe: the bytes available now (None: unknown)."""
    choice = index_choice(variant, space, count)
    need = estimate_bytes_per_item(choice.index_type, resolve(space).dim, count, choice.params) * count * copies
    available = probe()
    if available is None or need <= 0.9 * available:
        return None
    copies_text = "1 copy needs" if copies == 1 else f"{copies} copies need"
    return f"{copies_text} ~{need / 2**30:.1f} GiB, {available / 2**30:.1f} GiB available"
