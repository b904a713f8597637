"""SLAM-AGS: slide-label-aware multi-task pretraining with adaptive gradient surgery.

The stages of the workflow, in the order a run meets them:

- :mod:`slamags.synth`, :mod:`slamags.fetch`, :mod:`slamags.dataset`: generated cells, real folders or archives,
  described in ``dataset.json``; :mod:`slamags.images` decodes, :mod:`slamags.index` indexes every file,
  :mod:`slamags.store` decodes every usable cell once for every job
- :mod:`slamags.bags`: witness-rate bags (or, with :mod:`slamags.cohort`, one bag per real slide); :mod:`slamags.rates`
  names a run's rate and its words (a cohort's: slides, patients, splits)
- :mod:`slamags.pretrain`: one training loop for every row of :mod:`slamags.methods` (the method table), with
  :mod:`slamags.augment`, :mod:`slamags.model`, :mod:`slamags.losses` (one loss per module), :mod:`slamags.selfsup`
  (the field's self-supervised methods), :mod:`slamags.surgery` and :mod:`slamags.combiners` (task gradients),
  :mod:`slamags.pseudo` (ItS2CLR's pseudo-labels), :mod:`slamags.collapse` (the per-epoch monitor) and
  :mod:`slamags.checkpoint`
- :mod:`slamags.embed` and :mod:`slamags.embeddings`: frozen-encoder embeddings; :mod:`slamags.encoders`: encoders
  made elsewhere (a timm or torchvision network from a local file, a per-cell feature table) as rows;
  :mod:`slamags.evaluation`: the representation endpoints on every labelled cell outside the train bags;
  :mod:`slamags.export`: embeddings for CLAM, TRIDENT and torchmil, our encoders as torchvision networks
- :mod:`slamags.mil` with :mod:`slamags.aggregators`: attention MIL (ours and torchmil's); :mod:`slamags.metrics`
- :mod:`slamags.retrieval` (per-slide review images, from :mod:`slamags.mosaic`) and the report:
  :mod:`slamags.report` (tables, landing page, the scale arm, synced docs), :mod:`slamags.report.paired`,
  :mod:`slamags.report.leaderboard`, :mod:`slamags.report.tables`, :mod:`slamags.report.figures` (drawn with :mod:`slamags.plotstyle`)

Around them: :mod:`slamags.config` (loading, schema, checks), :mod:`slamags.wiring` (a config and a run's
identity become each stage's call), :mod:`slamags.runner` and :mod:`slamags.cli` (Snakemake scripts and the
``slamags`` command), :mod:`slamags.resources` (cluster requests), :mod:`slamags.runstamp` (one configuration
per results folder), :mod:`slamags.devices`, :mod:`slamags.stopping`, :mod:`slamags.failures`,
:mod:`slamags.io` (atomic writes) and :mod:`slamags.benchmark` (what the benchmarks of ``bench/`` share).
"""

__version__ = "0.1.0"


class SlamagsError(Exception):
    """An input problem with a one-line explanation meant for the user."""
