"""The wallboard's window on a busy node: what it costs the process's cyclic collector.

``python -m bench.wallboard [--rate R] [--window S]``

The wallboard keeps every contact of its window one by one (15 minutes by default) to read
each story in time order. At ``--rate`` calls a second (100 by default) that is 90,000
contacts of five moves each (arrived, queued, offered, connected, completed), fed to
:class:`ccari.wallboard.stats.Board` as the event log gives them. A full pass of Python's
cyclic collector walks every object it tracks, and the event loop stands still meanwhile:
on a node whose heap holds such a window, such passes come every few seconds.

Measured: the full pass with the board filled (median of five), the objects the collector
tracks because of the board, the moves a second the board takes in, and its memory
(tracemalloc, a separate fill). Baseline, in the same run: the same contacts kept the
plain way, each story a list of :class:`Move` objects in a dict by contact.

Last line: ``contacts=... gc_pause_ms=... baseline_gc_pause_ms=... ratio=...
tracked=... baseline_tracked=... moves_per_s=... board_mb=...`` (``ratio``: baseline pause
over the board's; higher is better).

Measured on the 2-core box (2026-12-07, about 10 s a run). Before the board kept its moves
as tuples of numbers and strings (each move a :class:`Move` object in a list per contact)::

    contacts=90000 gc_pause_ms=127 baseline_gc_pause_ms=107 ratio=0.8 tracked=630007
    baseline_tracked=540000 moves_per_s=244662 board_mb=132

Since (the collector leaves such tuples alone once it has seen them; one object a contact is
left to walk, its track)::

    contacts=90000 gc_pause_ms=37 baseline_gc_pause_ms=106 ratio=2.8 tracked=90015
    baseline_tracked=540000 moves_per_s=324352 board_mb=105
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Iterator

from ccari.wallboard.stats import Board, Move

STORY = ((None, "ivr"), ("ivr", "queued"), ("queued", "offered"), ("offered", "connected"),
         ("connected", "completed"))


def moves(contacts: int, rate: float) -> Iterator[Move]:
    """The window's moves, contact after contact (a contact every 1/rate s, 2 s a step)."""
    event = 0
    for n in range(contacts):
        at = 1_000_000.0 + n / rate
        for before, after in STORY:
            event += 1
            yield Move(event, at, 1 + n % 3, f"c-{n:08d}", "voice", "sales", before, after)
            at += 2.0


def pause_ms(rounds: int = 5) -> float:
    """A full collection, timed: the median of ``rounds``."""
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        gc.collect()
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


def filled_board(contacts: int, rate: float) -> tuple[Board, float]:
    board = Board()
    t = time.perf_counter()
    for m in moves(contacts, rate):
        board.add(m)
    return board, contacts * len(STORY) / (time.perf_counter() - t)


def filled_baseline(contacts: int, rate: float) -> dict[str, list[Move]]:
    kept: dict[str, list[Move]] = {}
    for m in moves(contacts, rate):
        kept.setdefault(m.contact, []).append(m)
    return kept


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.wallboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=100.0, help="calls a second")
    p.add_argument("--window", type=float, default=900.0, help="the window, in seconds")
    args = p.parse_args()
    contacts = round(args.rate * args.window)

    gc.collect()
    empty = len(gc.get_objects())
    idle_ms = pause_ms()

    board, per_s = filled_board(contacts, args.rate)
    gc.collect()
    tracked = len(gc.get_objects()) - empty
    board_ms = pause_ms()
    assert board.contacts == contacts
    del board
    gc.collect()

    baseline = filled_baseline(contacts, args.rate)
    gc.collect()
    baseline_tracked = len(gc.get_objects()) - empty
    baseline_ms = pause_ms()
    del baseline
    gc.collect()

    tracemalloc.start()
    board, _ = filled_board(contacts, args.rate)
    board_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    del board

    print(f"window: {contacts} contacts ({args.rate:g} calls/s over {args.window:g} s), "
          f"{contacts * len(STORY)} moves; a full pass with none: {idle_ms:.1f} ms")
    print(f"board:    full pass {board_ms:.1f} ms, {tracked} objects tracked, "
          f"{per_s:,.0f} moves/s taken in, {board_mb:.0f} MB")
    print(f"baseline: full pass {baseline_ms:.1f} ms, {baseline_tracked} objects tracked "
          "(each story a list of Move objects)")
    print(f"contacts={contacts} gc_pause_ms={board_ms:.0f} baseline_gc_pause_ms={baseline_ms:.0f} "
          f"ratio={baseline_ms / board_ms:.1f} tracked={tracked} baseline_tracked={baseline_tracked} "
          f"moves_per_s={per_s:.0f} board_mb={board_mb:.0f}", flush=True)


if __name__ == "__main__":
    main()
