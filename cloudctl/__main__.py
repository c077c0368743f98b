"""``python -m cloudctl``: the admin CLI."""

from cloudctl.cli.main import run

run()
