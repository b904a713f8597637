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


def test_no_report_module_imports_the_bag_simulator():
    """The report names rates and cells through slamags.rates, never through bags.py (the simulator)."""
    import ast

    from helpers import REPO

    for path in sorted((REPO / "src/slamags/report").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "slamags.bags" not in names, path.name


def test_the_trainer_reads_in_a_minute():
    """The training loop's class stays at most 120 lines: heads, targets, views and the collapse monitor live
    beside it (slamags.pretrain.Parts, Targets, make_view, monitor_parts; ItS2CLR's refresh in slamags.pseudo)."""
    import ast

    from helpers import REPO

    tree = ast.parse((REPO / "src/slamags/pretrain.py").read_text())
    trainer = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Trainer")
    assert trainer.end_lineno - trainer.lineno + 1 <= 120
