"""The package docstring names every module the package holds today, and no module that is gone."""

import re

import slamags
from helpers import REPO


def test_the_package_docstring_names_every_module():
    named = set(re.findall(r":mod:`slamags\.(\w+)`", slamags.__doc__))
    root = REPO / "src" / "slamags"
    modules = {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in root.iterdir() if (p / "__init__.py").exists()}
    assert named == modules, f"unnamed: {sorted(modules - named)}; gone: {sorted(named - modules)}"
