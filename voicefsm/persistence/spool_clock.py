"""Time as the spool sees it.

Rows carry the wall clock (meaningful to people and across reboots) and the boot clock
(``CLOCK_BOOTTIME``: shared by every process of one boot, and never stepped). The wall clock
does step, back or forward (NTP correcting a drift, a VM resumed, an operator): a timestamp
written before a step back lies in the future afterwards. Rules that compare with the wall clock
therefore read a timestamp too far in the future as "due", never as "not yet"; idempotency keys
make the occasional early or double send harmless. Ages come from the boot clock when a row was
written during this boot.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

#: A creation time further ahead than this was stamped by a clock since set back.
STEP_TOLERANCE_S = 1.0
#: Longer than any pause a relay sets on a row (``not_before``: a breaker period, a pause after
#: failure); a row held back further than this was held by a clock since set back.
MAX_HOLD_S = 120.0

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@functools.cache
def boot_id() -> int | None:
    """This boot's identity (Linux), so that boot-clock readings of another boot are not
    compared with ours; None where there is no such thing."""
    try:
        return int(_BOOT_ID.read_text().strip().replace("-", "")[:12], 16)
    except (OSError, ValueError):
        return None


def boot_now() -> float | None:
    """Seconds on the boot clock; None where it does not exist."""
    if boot_id() is None or not hasattr(time, "CLOCK_BOOTTIME"):
        return None
    return time.clock_gettime(time.CLOCK_BOOTTIME)
