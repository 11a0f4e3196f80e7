"""``python -m ccari.pbx ...``: see :mod:`ccari.pbx.cli`."""

import sys

from ccari.pbx.cli import main

sys.exit(main())
