"""`python -m lab.grade ...` = `lab grade ...`; `python -m lab.grade exercise ...` = `lab exercise ...`."""
import sys

from .cli import main

sys.exit(main())
