"""Configuration, one module per job:

- :mod:`slamags.config.loading`: YAML files read with one-line errors, merged in order, validated (:func:`load`);
- :mod:`slamags.config.validation`: the JSON schema (one-line errors, its defaults the only ones), and the checks
  of values that break a run together (:func:`validate`, :func:`defaults`);
- :mod:`slamags.config.capacity`: whether the data holds the requested bags, counted from the files;
- :mod:`slamags.config.derived`: facts derived from a configuration (rates and path tags, cohort or simulation,
  decode side, SGD steps per encoder, the notice that opens every table).

The names below are the package's interface; ``from slamags import config`` reads them all from here.
"""

from slamags.config.capacity import cells_needed, check_capacity
from slamags.config.derived import (DEFAULT_DECODE_SIDE, DEFAULT_IMAGE_SIZE, MIN_PRETRAIN_STEPS, Config,
                                    demonstration_note, expected_image_size, is_cohort, pretrain_steps,
                                    witness_rates, wr_tag)
from slamags.config.loading import load, merge, read_yaml
from slamags.config.validation import defaults, schema, validate

__all__ = ["Config", "DEFAULT_DECODE_SIDE", "DEFAULT_IMAGE_SIZE", "MIN_PRETRAIN_STEPS", "cells_needed", "check_capacity",
           "defaults", "demonstration_note", "expected_image_size", "is_cohort", "load", "merge", "pretrain_steps",
           "read_yaml", "schema", "validate", "witness_rates", "wr_tag"]
