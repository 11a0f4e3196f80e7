"""The checkout ccari runs from.

``asterisk/`` (Asterisk's config templates), ``dialplans/``, ``sounds/`` and ``migrations/``
live beside the ``ccari`` package, not inside it. An editable install (``pip install -e``)
finds them next to the code; a plain ``pip install`` of the checkout into a virtualenv (the
systemd unit's way) needs ``CCARI_HOME`` to name the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "CCARI_HOME"


class NoHome(RuntimeError):
    """The checkout's files are not where ccari looked for them."""


def project_root(needs: str = "asterisk") -> Path:
    """The checkout (``CCARI_HOME``, else the directory above the package), checked to hold
    the directory ``needs``."""
    env = os.environ.get(HOME_ENV)
    root = Path(env) if env else Path(__file__).resolve().parents[1]
    if not (root / needs).is_dir():
        raise NoHome(f"no {needs}/ under {root}: run ccari from its checkout "
                     f"(pip install -e .) or set {HOME_ENV} to the checkout")
    return root
