"""`python -m lab.bench`: the same as `lab bench`."""

import sys

from .cli import main

sys.exit(main())
