"""Every console script pyproject declares resolves to a callable."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
SCRIPTS = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_console_script_resolves(name: str) -> None:
    module_name, _, attr = SCRIPTS[name].partition(":")
    assert callable(getattr(importlib.import_module(module_name), attr))
