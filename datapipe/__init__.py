"""datapipe: a data collection and curation pipeline for Vision-Language-Action robot policies.

The core package, one room per capability, on tiers::

    tier 0  errors.py       DatapipeError and is_bad_input: the one base every module may use
            config.py       typed frozen configs from mappings; field comments as help
            storage.py      Location: a file or folder on any pyarrow filesystem, written atomically
            http_io.py      HTTP(S) with retries and backoff; remote files that resume a dropped body
            wording.py      how counts read ("1 episode", "2 episodes")
    tier 1  records/        the Episode and its encodings: Arrow rows, sample names, video codecs,
                            resampling, resizing, filter expressions, synthetic episodes
    tier 2  formats/        episodes on disk: shards/, lerobot/, hdf5, rlds; sink ownership, staging
            standardize/    one convention for every dataset family: action spaces, camera roles
            augment/        per-episode augmentation algorithms (what augment.* stages wrap)
            language/       instruction text: cleaning, object checks, variants, rewriters
    tier 3  engine/         stage contract -> registry -> workflow -> plan -> execution -> runners
            audit/          looking at a dataset: auditor, checks, report, inspect, its version
            training/       consuming shards: the stream, mixtures, the torch dataset, the trainer
    tier 4  cli/            the ``datapipe`` command, one file per command group

A module imports its own room and lower tiers only; rooms on one tier never import each other;
nothing imports ``cli`` (but ``__main__``). ``tests/test_import_boundary.py`` checks it. The
core never imports ``stages/``, ``generators/`` or ``teleop/``; it finds stages through the
registry (:mod:`datapipe.engine.registry`).
"""

__version__ = "0.1.0"
