"""SLAM-AGS: slide-label-aware multi-task pretraining with adaptive gradient surgery.

One module per stage of the workflow:

- :mod:`slamags.synth`    synthetic bone-marrow cytology generator (TCIA layout)
- :mod:`slamags.fetch`    real TCIA/folder datasets: download with resume, sha256, atomic extract
- :mod:`slamags.index`    patch index (decode every file, record a status)
- :mod:`slamags.bags`     witness-rate bag simulation
- :mod:`slamags.pretrain` encoder pretraining (SLAM-AGS and baselines)
- :mod:`slamags.surgery`  adaptive gradient surgery
- :mod:`slamags.losses`   NT-Xent, SupCon / similarity, weak supervision
- :mod:`slamags.embed`    frozen-encoder embeddings + linear-probe diagnostic
- :mod:`slamags.mil`      attention MIL (PAMIL, ABMIL), training and metrics
- :mod:`slamags.report`   paper table and figures
"""

__version__ = "0.1.0"


class SlamagsError(Exception):
    """An input problem with a one-line explanation meant for the user."""
