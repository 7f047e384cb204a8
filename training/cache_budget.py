"""Whether the decoded images are kept in memory or decoded again per batch. Torch-free.

The decode-once cache (uint8, S x S x 3 per image) makes small sets train without touching the
disk, but an ImageNet-sized folder (1.28 M images, about 190 GB at 224 px) cannot be held. The
cache is used only when the decoded set fits a budget: `--cache-gb`, or by default half of the
memory available when the run starts. Each process on a machine holds its own copy, so the
copies of all of them must fit. Otherwise the images are decoded per batch by DataLoader workers,
with the same decoder and resize, hence the same tensors.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass

DEFAULT_FRACTION = 0.5  # of the available memory; the rest is for the model, workers and the system
GB = 1e9


def available_memory() -> int | None:
    """Bytes of memory available to new allocations now, or None when the platform won't say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:  # Linux: MemAvailable counts reclaimable cache
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if sys.platform == "win32":
        import ctypes

        class _Status(ctypes.Structure):
            _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                        ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                        ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                        ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                        ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

        status = _Status()
        status.dwLength = ctypes.sizeof(_Status)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
            return int(status.ullAvailPhys)
        return None
    try:  # macOS and other POSIX systems: free pages (an underestimate on macOS)
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


@dataclass
class CacheChoice:
    cached: bool
    reason: str
    decoded_gb: float  # the decoded set, one copy
    budget_gb: float | None

    def to_json(self) -> dict:
        return asdict(self)


def choose_cache(n_images: int, size: int, cache_gb: float | None, copies: int = 1,
                 available: int | None = -1) -> CacheChoice:
    """Keep the decoded set in memory or stream it; `copies`: processes on this machine."""
    need = n_images * size * size * 3
    need_gb = round(need / GB, 3)
    copies = max(1, int(copies))
    who = f" x {copies} processes" if copies > 1 else ""
    if cache_gb is not None:
        if cache_gb <= 0:
            return CacheChoice(False, "--cache-gb 0: images are decoded per batch", need_gb, 0.0)
        budget, source = cache_gb * GB, f"--cache-gb {cache_gb:g}"
    else:
        free = available_memory() if available == -1 else available
        if free is None:
            budget, source = 2 * GB, "2 GB (the available memory is unknown on this system)"
        else:
            budget = free * DEFAULT_FRACTION
            source = f"half of the {free / GB:.1f} GB available"
    if need * copies <= budget:
        return CacheChoice(True, f"decoded set {need / GB:.2f} GB{who} fits the cache budget "
                                 f"{budget / GB:.2f} GB ({source}): decoded once, kept in memory",
                           need_gb, round(budget / GB, 3))
    return CacheChoice(False, f"decoded set {need / GB:.2f} GB{who} exceeds the cache budget {budget / GB:.2f} GB "
                              f"({source}): images are decoded per batch", need_gb, round(budget / GB, 3))
