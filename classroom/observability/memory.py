"""Keep a long-running node's resident memory from creeping.

Each thread that allocates gets a glibc malloc arena of its own (up to 8 per core), and
memory freed into one arena is not reused by another: a node with executor and aiortc
threads that handle packets of every size grows its resident memory slowly for hours
without holding more Python objects (measured in the soak benchmark: about 2 MB a minute
with a breakout round a minute, with the object counts flat; half of it gone with two
arenas). Two arenas are plenty for one event loop and a few helper threads. The same as
MALLOC_ARENA_MAX=2 in the environment, which an operator can still set instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

#: mallopt parameter number of M_ARENA_MAX in glibc's malloc.h.
M_ARENA_MAX = -8
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (True if done). Not glibc, or MALLOC_ARENA_MAX already
    set by the operator: nothing to do."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_ARENA_MAX, arenas))
    if not done:
        log.warning("could not cap malloc arenas at %d", arenas)
    return done
