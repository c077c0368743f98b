"""``python -m cloudctl``: the admin CLI."""

import gc
import sys

from cloudctl.cli.main import main

code = main()
# The process ends here. Its final garbage collection walked every object still alive
# (a stopped cloud: every service's models and caches), 0.5 to 1 s of a cloud's stop
# after all its work was done and its files closed; frozen, they are left to the OS.
# Exit handlers still run.
gc.freeze()
sys.exit(code)
