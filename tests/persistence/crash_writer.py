"""A writer process for the crash test: submits events as fast as it can and prints ``ACK key``
for each one as soon as its spool commit returned. The test SIGKILLs it mid-stream.

    python -m tests.persistence.crash_writer SPOOL SESSION
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from trials.support import event
from voicefsm.persistence.outbox import Outbox


def acknowledge(keys: Sequence[str]) -> None:
    sys.stdout.write("".join(f"ACK {key}\n" for key in keys))
    sys.stdout.flush()


async def main(spool: str, session: str) -> None:
    outbox = Outbox(spool, None, on_commit=acknowledge)
    await outbox.start()
    print("READY", flush=True)
    index = 0
    while True:
        outbox.submit_event("crash", event(index, session=session))
        index += 1
        if index % 50 == 0:
            await asyncio.sleep(0.0005)  # a voice loop yields; so does this one


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
