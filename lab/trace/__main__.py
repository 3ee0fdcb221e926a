"""`python -m lab.trace trace SCENARIO ...` and `python -m lab.trace inspect FILE.pcap`."""
import sys

from .cli import main

sys.exit(main())
