"""One ccari node in a process of its own, for benchmarks that kill one
(``python -m bench._node <config.pickle>``): the pickled :class:`ccari.config.Config`, served
as ``ccari serve`` serves it (its Asterisk already up), logging to stderr."""

from __future__ import annotations

import asyncio
import pickle
import sys
from pathlib import Path

from ccari import logs
from ccari.app import serve


def main() -> None:
    cfg = pickle.loads(Path(sys.argv[1]).read_bytes())  # written by the bench itself
    logs.configure(cfg.log_level, cfg.log_format)
    asyncio.run(serve(cfg))


if __name__ == "__main__":
    main()
