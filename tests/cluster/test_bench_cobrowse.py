"""The cross-node co-browse benchmark, small: every batch of every session reaches its
mirror on the other node (real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from bench._cobrowse_nodes import WARMUP, phase


async def test_bench_cobrowse_across_two_nodes_quick(tmp_path: Path, cluster_url: str) -> None:
    latencies = await phase(tmp_path, cluster_url, nodes=2, sessions=10, changes=6,
                            interval=0.1)
    assert len(latencies) == 10 * (6 - WARMUP)
    assert all(0 < ms < 5000 for ms in latencies)
