"""``python -m coxa.cli``: the same as the ``coxa`` command."""

import sys

from coxa.cli import main

sys.exit(main())
