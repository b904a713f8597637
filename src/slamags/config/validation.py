"""Validation: the JSON schema (one-line errors, defaults filled) and the checks of values that pass it one by one
but break a run together."""

from __future__ import annotations

import copy
import importlib.util
import math
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from slamags import SlamagsError
from slamags.rates import witness_count
from slamags.config.capacity import check_capacity
from slamags.config.derived import Config, count_images, is_cohort


def schema() -> dict[str, Any]:
    """The JSON schema; the allowed pretraining methods come from the method table, the MIL models from
    :data:`slamags.aggregators.MODELS`."""
    from slamags.aggregators import MODELS
    from slamags.methods import METHODS

    text = resources.files("slamags").joinpath("schema/config.schema.yaml").read_text()
    sch = yaml.safe_load(text)
    sch["properties"]["pretrain"]["properties"]["methods"]["items"] = {"enum": list(METHODS)}
    sch["properties"]["mil"]["properties"]["models"]["items"] = {"enum": list(MODELS)}
    return sch


def _is_integer(_checker: Any, value: Any) -> bool:
    """JSON Schema counts 1.0 as an integer; a config value written 1.0 is a float here."""
    return isinstance(value, int) and not isinstance(value, bool)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


def defaults(section: str) -> dict[str, Any]:
    """The schema's defaults of one section's keys (the one place a default is written)."""
    props = schema()["properties"][section]["properties"]
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}


def _fill_defaults(cfg: Config, sch: dict[str, Any]) -> None:
    for key, sub in sch.get("properties", {}).items():
        if key not in cfg and "default" in sub:
            cfg[key] = copy.deepcopy(sub["default"])
        if isinstance(cfg.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(cfg[key], sub)


def _one_line(err: jsonschema.ValidationError) -> str:
    key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
    s = err.schema if isinstance(err.schema, dict) else {}
    v = err.validator
    if v == "additionalProperties":
        allowed = ", ".join(sorted(s.get("properties", {})))
        extra = sorted(set(err.instance) - set(s.get("properties", {})))
        return f"config key {key}: unknown key(s) {', '.join(map(str, extra))}; allowed: {allowed}"
    if v == "enum":
        return f"config key {key}: {err.instance!r} is not allowed; choose one of {', '.join(map(str, s['enum']))}"
    if "x-hint" in s:          # a value the schema refuses, said in the user's words (the schema's x-hint)
        return f"config key {key}: {err.instance!r} {s['x-hint']}"
    return f"config key {key}: {err.message}"


def _key_path(err: jsonschema.ValidationError) -> tuple[str, ...]:
    """The config key an error is about (for an unknown key, that key itself)."""
    path = tuple(str(p) for p in err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        s = err.schema if isinstance(err.schema, dict) else {}
        extra = sorted(set(err.instance) - set(s.get("properties", {})))
        if extra:
            path += (str(extra[0]),)
    return path


def _sets(cfg: Any, path: tuple[str, ...]) -> bool:
    """Whether one config file's own settings contain the key ``path`` (list indices included)."""
    node = cfg
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def validate(cfg: Config, check_paths: bool = True) -> Config:
    """Validate ``cfg`` in place (defaults filled); raise :class:`SlamagsError` with one line."""
    sch = schema()
    encoders = cfg.get("encoders") if isinstance(cfg.get("encoders"), dict) else {}
    sch["properties"]["pretrain"]["properties"]["methods"]["items"]["enum"] += [e for e in encoders
                                                                              if isinstance(e, str)]
    validator = _Validator(sch)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        err = SlamagsError(_one_line(errors[0]))
        err.key_path = _key_path(errors[0])  # type: ignore[attr-defined]
        raise err
    _fill_defaults(cfg, sch)
    _check_encoders(cfg)
    ds, bags = cfg["dataset"], cfg["bags"]
    _check_methods(cfg)
    if is_cohort(cfg):
        _validate_cohort(cfg, check_paths)
        return cfg
    both = set(ds["negative_classes"]) & set(ds["positive_classes"])
    if both:
        raise SlamagsError(f"config key dataset: class(es) {', '.join(sorted(both))} are both negative and positive; "
                           "list each class in one of negative_classes / positive_classes")
    for wr in bags["witness_rates"]:
        if witness_count(wr, bags["bag_size"]) < 1:
            need = math.ceil(0.5 / wr)
            raise SlamagsError(f"config key bags.witness_rates: {wr} x bag_size {bags['bag_size']} rounds to 0 "
                               f"positive cells per bag; raise bags.bag_size to at least {need}")
    _check_consistency(cfg)
    _check_combiners(cfg)
    if ds["kind"] == "synthetic":
        counts = cfg["synthetic"]["counts"]
        for key in ("negative_classes", "positive_classes"):
            missing = [c for c in ds[key] if c not in counts]
            if missing:
                raise SlamagsError(f"config key dataset.{key}: {', '.join(map(repr, missing))} not generated; "
                                   f"add them to synthetic.counts (drawable: LYT, BLA, NGS, EBO)")
    else:
        if not ds.get("root"):
            raise SlamagsError(f"config key dataset.root: required for dataset.kind={ds['kind']}; "
                               "set it to the extracted dataset folder")
        root = Path(ds["root"])
        if check_paths and not ds.get("archive"):
            if not root.is_dir():
                raise SlamagsError(f"config key dataset.root: folder {root} does not exist; "
                                   "point it at the extracted dataset (or set dataset.archive to fetch it)")
            for key in ("negative_classes", "positive_classes"):
                missing = [c for c in ds[key] if not (root / c).is_dir()]
                if missing:
                    found = sorted(p.name for p in root.iterdir() if p.is_dir())
                    raise SlamagsError(f"config key dataset.{key}: class folder(s) {', '.join(map(repr, missing))} not in "
                                       f"{root}; found: {', '.join(found) or 'none'}")
    if check_paths:
        check_capacity(cfg)
    return cfg


def _validate_cohort(cfg: Config, check_paths: bool) -> None:
    """``bags.source: cohort``: a folder of slides and a readable cohort table (:mod:`slamags.cohort`)."""
    from slamags.cohort import read_cohort

    ds, co = cfg["dataset"], cfg["cohort"]
    if ds["kind"] != "folder":
        raise SlamagsError(f"config key dataset.kind: bags.source cohort reads a folder of slides, not "
                           f"{ds['kind']!r}; set dataset.kind: folder and dataset.root to <root>/<slide_id>/**.jpg")
    if not ds.get("root") or not co.get("table"):
        key = "dataset.root" if not ds.get("root") else "cohort.table"
        raise SlamagsError(f"config key {key}: required for bags.source cohort; set it (dataset.root: the folder "
                           "of <slide_id>/ cell folders; cohort.table: slide_id, label[, patient_id, split])")
    _check_warmup(cfg["pretrain"])
    _check_combiners(cfg)
    if co.get("folds"):                 # k-fold cross-validation: the bag seeds are the folds
        cfg["bags"]["seeds"] = list(range(int(co["folds"])))
    if check_paths:
        if co.get("folds"):
            _check_folds(read_cohort(co["table"]), int(co["folds"]), co["table"])
        if not Path(ds["root"]).is_dir():
            raise SlamagsError(f"config key dataset.root: folder {ds['root']} does not exist; point it at the folder "
                               "holding one sub-folder of cells per slide")
        cohort = read_cohort(co["table"])
        root = Path(ds["root"])
        empty = [s for s in cohort["slide_id"] if not (root / s).is_dir() or count_images(root / s) == 0]
        if empty:
            why = "an empty folder" if (root / empty[0]).is_dir() else "no folder"
            raise SlamagsError(f"cohort table {co['table']}: slide {empty[0]!r} has no cells ({why} "
                               f"{root / empty[0]}); add its cells there or remove it from the table"
                               + (f" ({len(empty)} slides in all)" if len(empty) > 1 else ""))


def _check_folds(cohort: Any, folds: int, table: str) -> None:
    """k-fold cross-validation needs a patient of each label in every fold, and no fixed split beside it."""
    if cohort["split"].notna().any():
        raise SlamagsError(f"cohort table {table} has a split column and cohort.folds is {folds}: they cannot both "
                           "decide the test patients; set cohort.folds: null to use the table's split, or drop the "
                           "column to cross-validate")
    patients = cohort.groupby("patient_id")["label"].max()
    counts = {label: int((patients == label).sum()) for label in (0, 1)}
    if min(counts.values()) < folds:
        raise SlamagsError(f"config key cohort.folds: {folds} folds need at least {folds} patients of each label; "
                           f"the cohort has {counts[0]} negative and {counts[1]} positive patients; set cohort.folds "
                           f"to at most {min(counts.values())}")


def _check_warmup(p: Config) -> None:
    """The warm-up fits in the training (both bag sources)."""
    if p["warmup_epochs"] > p["epochs"]:
        raise SlamagsError(f"config key pretrain.warmup_epochs: {p['warmup_epochs']} warm-up epochs exceed the "
                           f"{p['epochs']} epochs of pretrain.epochs; set it to at most {p['epochs']}")


def _check_consistency(cfg: Config) -> None:
    """Values that each pass the schema but break the run together."""
    b, p, m = cfg["bags"], cfg["pretrain"], cfg["mil"]
    _check_warmup(p)
    n_val = round(m["val_fraction"] * b["n_train"])
    if n_val < 1 or n_val >= b["n_train"]:
        lo, hi = 0.5 / b["n_train"], (b["n_train"] - 0.5) / b["n_train"]
        raise SlamagsError(f"config key mil.val_fraction: {m['val_fraction']} x bags.n_train {b['n_train']} gives "
                           f"{n_val} validation bags per label; each label needs at least one validation and one "
                           f"training bag: choose a value between {lo:.3f} and {hi:.3f}")
    if m.get("patience") is not None and m["patience"] >= m["epochs"]:
        raise SlamagsError(f"config key mil.patience: {m['patience']} epochs without a lower validation loss can never "
                           f"stop a training of mil.epochs {m['epochs']}; set it below {m['epochs']} or raise "
                           "mil.epochs")
    if m["top_k"] > b["bag_size"]:
        raise SlamagsError(f"config key mil.top_k: {m['top_k']} exceeds bags.bag_size {b['bag_size']} "
                           f"(it would retrieve every cell); set it to at most {b['bag_size']}")


def _check_encoders(cfg: Config) -> None:
    """Encoders made elsewhere (:mod:`slamags.encoders`): a name of their own, a network or a feature table."""
    from slamags.methods import METHODS

    for name, spec in cfg["encoders"].items():
        if name in METHODS:
            raise SlamagsError(f"config key encoders.{name}: {name} is a method of the table; give the encoder "
                               "another name")
        if bool(spec.get("weights")) == bool(spec.get("features")):
            raise SlamagsError(f"config key encoders.{name}: give weights (a network's file, with arch and "
                               "input_size) or features (a per-cell feature table), one of the two")
        if spec.get("weights") and "input_size" not in spec:
            raise SlamagsError(f"config key encoders.{name}.input_size: required with weights: the side in px the "
                               "network sees (e.g. 224)")


def _check_methods(cfg: Config) -> None:
    """Methods that need what the config does not give: true cell labels on a cohort, the nnPU prior on a
    cohort, the encoder a method starts from."""
    from slamags.methods import METHODS

    methods = cfg["pretrain"]["methods"]
    for i, m in enumerate(methods):
        if m not in METHODS:          # an encoder made elsewhere (_check_encoders)
            continue
        spec = METHODS[m]
        if is_cohort(cfg) and spec.needs_cell_labels:
            raise SlamagsError(f"config key pretrain.methods.{i}: {m} trains on true cell labels, which a cohort's "
                               f"cells do not have; leave {m} out")
        if spec.needs_prior and is_cohort(cfg) and cfg["pretrain"].get("nnpu_prior") is None:
            raise SlamagsError(f"config key pretrain.nnpu_prior: {m} needs the abnormal share of the positive "
                               "slides' cells, which real slides do not state; set it (e.g. 0.05)")
        if spec.init and spec.init not in methods:
            raise SlamagsError(f"config key pretrain.methods.{i}: {m} starts from the {spec.init} encoder of the "
                               f"same simulation; add {spec.init} to pretrain.methods")


def _check_combiners(cfg: Config) -> None:
    """A method whose combiner needs a package that is not installed: one line with what to install."""
    from slamags.combiners import INSTALL_HINT, missing_packages
    from slamags.methods import METHODS

    for i, m in enumerate(cfg["pretrain"]["methods"]):
        if m not in METHODS:          # an encoder made elsewhere: nothing to combine
            continue
        missing = missing_packages(METHODS[m].combine)
        if METHODS[m].needs and importlib.util.find_spec("lightly") is None:
            raise SlamagsError(f"config key pretrain.methods.{i}: {m} needs lightly, not installed; install it "
                               f"with pip install -e '.[ssl]', or leave {m} out")
        if missing:
            raise SlamagsError(f"config key pretrain.methods.{i}: {m} needs {', '.join(missing)}, not installed; "
                               f"install it with {INSTALL_HINT}, or leave {m} out")
