"""Records written before a run kept its measurements apart (schema revision 0003, export format 1):
how to split their `config` into what the run was told and what it measured.

Frozen: this is the rule of the code that wrote those records, used by migration 0004 and by `import-run`
of an old bundle. Never edit it to follow today's settings.
"""

from __future__ import annotations

# Keys that revision 0003's training wrote into a config beside the recipe (and any `*_seconds`).
TRAINING_MEASURED = frozenset({"threads_pinned", "model_not_saved", "teacher_run", "imported_from"})
# The labels settings of revision 0003; every other key of a labels config was measured.
LABELS_SETTINGS = frozenset({
    "clusters", "confidence", "core_fraction", "embedding", "embedding_dims", "embedding_epochs", "epochs",
    "features", "k", "method", "min_steps", "model", "pseudo_label_smoothing", "seed", "select",
    "self_training_rounds", "selftrain_crossfit", "selftrain_ensemble", "selftrain_keep", "selftrain_rounds",
    "small_batch_size", "stratified"})
# Labels keys written twice, as a setting and then as a measurement that overwrote it: they stay in the
# config as stored, so that old runs group exactly as they did, and are copied into the details too.
LABELS_OVERWRITTEN = frozenset({"clusters", "embedding", "self_training_rounds"})


def split_config(benchmark: str | None, config) -> tuple[dict, dict]:
    """(config, details) of a run whose config held both."""
    if not isinstance(config, dict):
        return {}, {}
    if benchmark == "labels":
        measured = [k for k in config if k not in LABELS_SETTINGS]
        copied = {k: config[k] for k in LABELS_OVERWRITTEN if k in config}
    else:
        measured = [k for k in config if k in TRAINING_MEASURED or k.endswith("_seconds")]
        copied = {}
    told = {k: v for k, v in config.items() if k not in measured}
    return told, {**copied, **{k: config[k] for k in measured}}
