"""Loading: YAML files read with one-line errors (file, line, column; a key written twice refused), merged in
order as Snakemake merges --configfile files, then validated."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import yaml

from slamags import SlamagsError
from slamags.config.derived import Config
from slamags.config.validation import _sets, validate


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key written twice in one mapping (PyYAML keeps the last silently)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is written twice (first on line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: str | Path) -> Config:
    """Parse one config file; a YAML mistake gives one line with the file, line and column."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise SlamagsError(f"config file {path} cannot be read ({e.strerror or type(e).__name__})") from e
    try:
        cfg = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        hint = " (indent with spaces, not tabs)" if "\\t" in str(problem) or "\t" in str(problem) else ""
        raise SlamagsError(f"config file {path}{where}: {problem}{hint}; fix the YAML") from e
    if cfg is None:
        raise SlamagsError(f"config file {path} is empty; write its settings as 'key: value' lines "
                           "(see config/config.yaml), or leave the file out")
    if not isinstance(cfg, dict):
        raise SlamagsError(f"config file {path}: the top level is a {type(cfg).__name__}, not 'key: value' "
                           "settings (see config/config.yaml)")
    return cfg


def merge(base: Config, over: Config) -> Config:
    """``over`` merged into ``base`` key by key, as Snakemake merges --configfile files."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def load(paths: Sequence[str | Path], check_paths: bool = True) -> Config:
    """Read config files in order (later ones override earlier ones), then validate."""
    cfg: Config = {}
    raw = []
    for p in paths:
        raw.append((p, read_yaml(p)))
        merge(cfg, copy.deepcopy(raw[-1][1]))
    try:
        return validate(cfg, check_paths=check_paths)
    except SlamagsError as e:
        path = getattr(e, "key_path", ())
        where = [str(p) for p, own in raw if path and _sets(own, path)]
        if len(paths) > 1 and where:
            raise SlamagsError(f"{e} (set in {where[-1]})") from e
        raise
