"""The console on fixed data, for the key-press latency benchmark: `python -m tests.bench.ui_app queues|dlq`.

`queues`: the snapshot fixtures' 1,000-queue scene. `dlq`: the all-ok scene whose DLQ browser is backed by an
in-memory store of 10,000 letters (newest first, 50 a page, filters applied like a real store).
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from console.adapters.dlq_base import Selection
from console.model import DeadLetterPage, DlqInfo
from tests.fixtures.dlq_letters import FixedStore, _order
from tests.fixtures.scenes import NOW, make_scene_app


class BigStore(FixedStore):
    def __init__(self, total: int = 10_000) -> None:
        super().__init__(NOW, total)
        self.letters = [_order(n, NOW - timedelta(seconds=3 * n)) for n in range(1, total + 1)]

    async def info(self, sample: int) -> DlqInfo:
        return DlqInfo(self.kind, self.name, len(self.letters))

    async def page(self, offset: int, limit: int, selection: Selection) -> DeadLetterPage:
        chosen = self.letters if selection.everything else [x for x in self.letters if selection.wants(x)]
        return DeadLetterPage(self.name, self.kind, len(self.letters), tuple(chosen[offset : offset + limit]), offset)


def main(which: str) -> None:
    if which == "queues":
        make_scene_app("many-queues").run()
        return
    app: Any = make_scene_app("all-ok")
    store = BigStore()
    app.dlq_store_for = lambda kind, name: store
    app.run()


if __name__ == "__main__":
    main(sys.argv[1])
