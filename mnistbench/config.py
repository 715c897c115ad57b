"""Typed training configuration. The whole TrainConfig is stored with every run, so a run can be repeated.

No TensorFlow here: the CLI builds configs before anything heavy is imported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from .errors import ConfigError

CALLBACKS = ("early_stopping", "reduce_lr", "decay")
SCHEDULES = ("constant", "onecycle", "cosine")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
BENCHMARKS = ("accuracy", "labels", "params")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained by default; every field can be overridden from the command line."""

    optimizer: str = "adam"
    lr: float = 1e-3  # peak learning rate for onecycle/cosine
    batch_size: int = 256  # the seed: 256 worked best
    epochs: int = 30
    augment: bool = False  # the seed's: rotation 15 deg, zoom 0.15, shear 0.1, shifts 0.1
    callbacks: tuple[str, ...] = ("early_stopping",)
    schedule: str = "constant"  # per-step schedule; "decay" (a callback) is the seed's lr * 0.995 ** epoch
    patience: int = 15  # EarlyStopping on val_accuracy, the seed's 15
    label_smoothing: float = 0.0
    weight_decay: float = 0.0  # only for adamw
    precision: str = "float32"  # or mixed_bfloat16: ~1.8x the images/s on a CPU with AVX512-BF16
    # Training steps per call into TensorFlow. Same batches in the same order, so the same numbers, with
    # one Python round trip per N steps: pays off for small nets whose steps take milliseconds; big nets
    # keep 1 so that Ctrl-C and per-batch callbacks answer within a step.
    steps_per_execution: int = 1


@dataclass
class TrainConfig:
    """One training run: the model, its overrides, the recipe in force, and the data it sees."""

    benchmark: str
    model: str
    recipe: Recipe
    model_options: dict = field(default_factory=dict)  # builder overrides, e.g. {"width": 8}
    seed: int = 0
    val_size: int = 5000  # held out of the 60,000 training images, stratified, fixed by the seed
    train_size: int | None = None  # a stratified subset for quick runs; None = all the rest
    save_model: bool = True
    spread_threads: bool = False  # pin TensorFlow's busiest threads to different CPUs (Linux; see threads.py)

    def validate(self) -> TrainConfig:
        r = self.recipe
        if self.benchmark not in BENCHMARKS:
            raise ConfigError(f"unknown benchmark {self.benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
        if r.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {r.epochs}")
        if r.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {r.batch_size}")
        if r.steps_per_execution < 1:
            raise ConfigError(f"--steps-per-execution must be at least 1, got {r.steps_per_execution}")
        if not r.lr > 0:
            raise ConfigError(f"--lr must be positive, got {r.lr}")
        if r.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {r.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if r.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {r.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if r.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {r.precision!r}; choose one of {', '.join(PRECISIONS)}")
        unknown = [c for c in r.callbacks if c not in CALLBACKS]
        if unknown:
            raise ConfigError(f"unknown callback {unknown[0]!r}; choose from {', '.join(CALLBACKS)}")
        if r.schedule != "constant" and {"reduce_lr", "decay"} & set(r.callbacks):
            raise ConfigError(f"--schedule {r.schedule} sets the learning rate itself; drop reduce_lr/decay")
        if self.val_size < 0:
            raise ConfigError(f"--val-size must not be negative, got {self.val_size}")
        if "early_stopping" in r.callbacks and self.val_size == 0:
            raise ConfigError("early_stopping needs a validation set (--val-size > 0)")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["recipe"]["callbacks"] = list(self.recipe.callbacks)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        recipe = dict(d.pop("recipe"))
        recipe["callbacks"] = tuple(recipe.get("callbacks", ()))
        recipe = {k: v for k, v in recipe.items() if k in {f.name for f in fields(Recipe)}}
        known = {f.name for f in fields(cls)}
        return cls(recipe=Recipe(**recipe), **{k: v for k, v in d.items() if k in known})


def override(recipe: Recipe, **changes) -> Recipe:
    """The recipe with every non-None change applied (None means "use the model's default")."""
    return replace(recipe, **{k: v for k, v in changes.items() if v is not None})
