"""Every configuration in configs/ validates with the files its own usage line combines it with."""

from __future__ import annotations

import re

import yaml

import pytest

from helpers import REPO
from slamags import config as cfgmod

OVERLAYS = sorted(p.name for p in (REPO / "configs").glob("*.yaml"))


def usage(name: str) -> list[str]:
    """The config files of the first ``--configfile`` line of ``name``'s header, or ``name`` alone."""
    m = re.search(r"--configfile ((?:configs/[\w.-]+\.yaml\s*)+)", (REPO / "configs" / name).read_text())
    files = m.group(1).split() if m else [f"configs/{name}"]
    assert f"configs/{name}" in files, f"{name}'s usage line does not name it"
    return files


def test_every_overlay_is_checked():
    assert {"ranking.yaml", "ranking-synthetic.yaml", "mechanism.yaml", "study-synthetic.yaml", "study-gpu.yaml",
            "study-projector.yaml", "study-tcia.yaml", "study.yaml", "tiny.yaml", "paper.yaml"} <= set(OVERLAYS)


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_overlay_validates_with_the_files_it_is_meant_for(name):
    files = [REPO / "config" / "config.yaml", *(REPO / f for f in usage(name))]
    cfg = cfgmod.load(files, check_paths=False)
    assert cfg["pretrain"]["methods"]


def test_config_readme_describes_every_key_of_the_schema():
    from slamags.config import schema

    text = (REPO / "config" / "README.md").read_text()

    def keys(node, path=""):
        for k, v in node.get("properties", {}).items():
            p = f"{path}.{k}" if path else k
            yield p
            yield from keys(v, p)

    missing = [k for k in keys(schema()) if f"`{k}`" not in text]
    assert missing == [], f"config/README.md lacks {missing}"


def test_the_default_configuration_states_the_schemas_defaults():
    """One owner per default: every key config/config.yaml writes that the schema gives a default holds that
    default (the file shows them; the schema decides them)."""
    from slamags.config import schema

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    differ = [f"{sec}.{k}: {cfg[sec][k]!r} != {v['default']!r}"
              for sec, props in schema()["properties"].items() for k, v in props.get("properties", {}).items()
              if "default" in v and isinstance(cfg.get(sec), dict) and k in cfg[sec] and cfg[sec][k] != v["default"]]
    assert differ == []
