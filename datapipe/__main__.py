"""``python -m datapipe`` is the ``datapipe`` command."""

import sys

from datapipe.cli import main

sys.exit(main())
