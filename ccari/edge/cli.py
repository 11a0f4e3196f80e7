"""``ccari edge ...``: the SIP edge's commands.

    ccari edge render --out DIR   write DIR/kamailio.cfg for Debian's kamailio
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ccari.config import Config
from ccari.edge.render import EdgeRenderError, write


def main(cfg: Config, args: list[str], *, prog: str = "ccari edge") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write kamailio.cfg from the [edge] settings")
    render.add_argument("--out", required=True, help="directory to write kamailio.cfg into")
    ns = parser.parse_args(args)
    try:
        path = write(cfg, Path(ns.out))
    except EdgeRenderError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    print(f"{path} written (0600: it holds the database password); run it with\n"
          f"  kamailio -DD -E -f {path}")
    return 0
