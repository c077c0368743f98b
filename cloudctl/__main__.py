"""``python -m cloudctl``: the admin CLI."""

import sys

from cloudctl.cli.main import main

sys.exit(main())
