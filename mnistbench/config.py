"""Typed training configuration. The whole TrainConfig is stored with every run, so a run can be repeated.

No TensorFlow here: the CLI builds configs before anything heavy is imported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum

from .errors import ConfigError


class Choice(str, Enum):
    """A closed set of option values: the CLI offers them as choices, the configs store their values."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)

    @classmethod
    def check(cls, value: str, option: str) -> str:
        """`value` as a plain string if it is one of the choices, else a ConfigError naming them."""
        value = getattr(value, "value", value)
        if value not in cls.values():
            raise ConfigError(f"{option}: unknown value {value!r}; choose one of {', '.join(cls.values())}")
        return value


class Benchmark(Choice):
    accuracy = "accuracy"
    labels = "labels"
    params = "params"


class TrainBenchmark(Choice):  # the boards that `train` trains for; labels has its own command
    accuracy = "accuracy"
    params = "params"


class Optimizer(Choice):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"
    rmsprop = "rmsprop"


class Schedule(Choice):
    constant = "constant"
    onecycle = "onecycle"
    cosine = "cosine"


class Callback(Choice):
    early_stopping = "early_stopping"
    reduce_lr = "reduce_lr"
    decay = "decay"


class Precision(Choice):
    float32 = "float32"
    mixed_bfloat16 = "mixed_bfloat16"
    mixed_float16 = "mixed_float16"


class Format(Choice):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


class ExportFormat(Choice):
    """What `export` writes: the board formats, plus the self-contained web page."""

    csv = "csv"
    json = "json"
    markdown = "markdown"
    table = "table"  # a table in a file is Markdown
    html = "html"


class Selection(Choice):
    cosine = "cosine"
    kmeans = "kmeans"
    random = "random"


class LabelsMethod(Choice):
    prototype = "prototype"
    supervised = "supervised"
    cluster = "cluster"
    selftrain = "selftrain"


class EmbeddingKind(Choice):
    autoencoder = "autoencoder"
    deskewed = "deskewed"


N_CLASSES = 10
MIXTURE_MAX_K = 100  # a 100-component mixture of the 60,000 points takes about a minute on 2 cores


def method_embedding(method: str) -> str:
    """The embedding a labels method clusters unless told: selftrain the deskewed images, the others N2D's."""
    return EmbeddingKind.deskewed.value if method == LabelsMethod.selftrain.value else EmbeddingKind.autoencoder.value


def selftrain_clusters(k: int) -> int:
    """selftrain's default clusters: one per label, ten at least (one per class), MIXTURE_MAX_K at most."""
    return min(max(k, N_CLASSES), MIXTURE_MAX_K)


def resolved_labels_defaults(stored: dict) -> dict:
    """The settings a stored labels config leaves to its method (None), with the values the method uses:
    selftrain's embedding and clusters. A field the config does not have at all is left out: a run recorded
    before the field existed followed the rule of its time (ten clusters at every k)."""
    if stored.get("method") != LabelsMethod.selftrain.value:
        return {}
    out = {}
    if "embedding" in stored and not stored["embedding"]:
        out["embedding"] = method_embedding(stored["method"])
    if "clusters" in stored and stored["clusters"] is None and isinstance(stored.get("k"), int):
        out["clusters"] = selftrain_clusters(stored["k"])
    return out


class Features(Choice):
    pixels = "pixels"
    embedding = "embedding"


class Status(Choice):
    running = "running"
    finished = "finished"
    failed = "failed"
    interrupted = "interrupted"


class SweepMethod(Choice):
    bayes = "bayes"  # Optuna's TPE
    random = "random"
    grid = "grid"


class Pruner(Choice):
    median = "median"
    hyperband = "hyperband"


BENCHMARKS = Benchmark.values()
DEFAULT_VAL_SIZE = 5000  # validation images held out of the 60,000 training images, stratified
TRAINING_IMAGES = 60_000
DEFAULT_TARGETS = {"params": 0.99, "labels": 0.95}  # a board's default test-accuracy target
DEFAULT_MODELS = {"accuracy": "baseline", "params": "shared"}  # what `train BOARD` trains without --model


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
    # The seed's augmentation ranges (ImageDataGenerator's): degrees, zoom fraction, shear and shift
    # as fractions of the image.
    rotation: float = 15.0
    zoom: float = 0.15
    shear: float = 0.1
    shift: float = 0.1
    # Elastic distortion (Simard et al. 2003) after the affine warp: a smooth random displacement of about
    # elastic_alpha pixels, smoothed over elastic_sigma pixels; 0 turns it off (the seed had none).
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0
    warmup: float = 0.2  # onecycle: the fraction of all steps spent warming up to the peak rate
    decay_rate: float = 0.995  # the decay callback: lr * decay_rate ** epoch (the seed's)
    reduce_lr_factor: float = 0.95  # the reduce_lr callback (the seed's): on a loss plateau ...
    reduce_lr_patience: int = 10  # ... of this many epochs ...
    min_lr: float = 1e-4  # ... down to this rate
    momentum: float = 0.9  # sgd (Nesterov)
    beta_1: float = 0.9  # adam/adamw: Keras's defaults; one-epoch recipes do better with shorter memories
    beta_2: float = 0.999
    # Distillation (Hinton et al. 2015): this zoo model is trained first, with its own recipe, on the same
    # training images (never the validation or test ones); its predictions on them, softened by
    # teacher_temperature, are the targets, mixed with the true labels by teacher_weight (1 = the teacher
    # only). Only the student's parameters are counted; the teacher's seconds count in the run's time.
    teacher: str = ""
    teacher_weight: float = 0.9
    teacher_temperature: float = 2.0
    # Weight averaging (Polyak): the weights validated, evaluated and saved are an exponential moving
    # average of the trained ones, updated every step with this momentum; 0 = off. It needs a fixed
    # number of epochs: early stopping would restore raw weights.
    ema: float = 0.0
    # Test-time augmentation: the saved model answers with the mean of its probabilities on the image and
    # on the image moved this many pixels up, down, left and right (five views, no parameters); 0 = off.
    tta_shift: int = 0


@dataclass
class TrainConfig:
    """One training run: the model, its overrides, the recipe in force, and the data it sees."""

    benchmark: str
    model: str
    recipe: Recipe
    model_options: dict = field(default_factory=dict)  # builder overrides, e.g. {"width": 8}
    seed: int = 0
    val_size: int = DEFAULT_VAL_SIZE  # held out of the training images, stratified, fixed by the seed
    train_size: int | None = None  # a stratified subset for quick runs; None = all the rest
    save_model: bool = True
    spread_threads: bool = False  # pin TensorFlow's busiest threads to different CPUs (Linux; see threads.py)
    # The seed report's protocol, for comparison only: all 60,000 training images, the test set standing in
    # for validation, so that it picks the epoch. Such a run is flagged `test-selected` and never ranked.
    select_on_test: bool = False

    def validate(self) -> TrainConfig:
        r = self.recipe
        Benchmark.check(self.benchmark, "benchmark")
        Optimizer.check(r.optimizer, "--optimizer")
        Schedule.check(r.schedule, "--schedule")
        Precision.check(r.precision, "--precision")
        for callback in r.callbacks:
            Callback.check(callback, "--callbacks")
        at_least(r.epochs, 1, "--epochs")
        at_least(r.batch_size, 1, "--batch-size")
        at_least(r.steps_per_execution, 1, "--steps-per-execution")
        at_least(r.patience, 0, "--patience")
        positive(r.lr, "--lr")
        positive(r.min_lr, "min_lr")
        within(r.label_smoothing, 0, 1, "--label-smoothing", upper_open=True)
        within(r.weight_decay, 0, 1, "weight_decay")
        within(r.momentum, 0, 1, "momentum", upper_open=True)
        within(r.beta_1, 0, 1, "beta_1", upper_open=True)
        within(r.beta_2, 0, 1, "beta_2", upper_open=True)
        within(r.warmup, 0, 1, "warmup", upper_open=True)
        within(r.decay_rate, 0, 1, "decay_rate", lower_open=True)
        within(r.reduce_lr_factor, 0, 1, "reduce_lr_factor", lower_open=True, upper_open=True)
        at_least(r.reduce_lr_patience, 1, "reduce_lr_patience")
        within(r.rotation, 0, 180, "rotation")
        for name in ("zoom", "shear", "shift"):
            within(getattr(r, name), 0, 1, name, upper_open=True)
        within(r.elastic_alpha, 0, 14, "elastic_alpha")
        within(r.elastic_sigma, 0.5, 14, "elastic_sigma")
        within(r.teacher_weight, 0, 1, "teacher_weight")
        within(r.teacher_temperature, 0.1, 100, "teacher_temperature")
        within(r.ema, 0, 1, "ema", upper_open=True)
        within(r.tta_shift, 0, 4, "tta_shift")
        if r.ema and "early_stopping" in r.callbacks:
            raise ConfigError("ema averages the weights over a fixed number of epochs; drop early_stopping "
                              "(--callbacks none)")
        if r.schedule != "constant" and {"reduce_lr", "decay"} & set(r.callbacks):
            raise ConfigError(f"--schedule {r.schedule} sets the learning rate itself; drop reduce_lr/decay")
        within(self.val_size, 0, TRAINING_IMAGES - 10, "--val-size")
        if self.train_size is not None:
            within(self.train_size, 10, TRAINING_IMAGES - self.val_size, "--train-size")
        if r.ema:
            images = self.train_size or TRAINING_IMAGES - self.val_size
            check_ema_horizon(r.ema, r.epochs * math.ceil(images / r.batch_size))
        within(self.seed, 0, 2**32 - 1, "--seed")
        if self.select_on_test and self.val_size:
            raise ConfigError("--seed-protocol trains on all 60,000 training images; leave out --val-size")
        if "early_stopping" in r.callbacks and self.val_size == 0 and not self.select_on_test:
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


def at_least(value, low, option: str) -> None:
    if value < low:
        raise ConfigError(f"{option} must be at least {low}, got {value}")


def positive(value, option: str) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{option} must be a positive number, got {value}")


# The largest share of the untrained weights an exponential average may still hold when training ends:
# Keras starts the average at the initial weights and keeps momentum**steps of them.
EMA_MAX_START_SHARE = 0.01


def check_ema_horizon(momentum: float, steps: int) -> None:
    """Refuse an average of the weights that the run is too short to fill: with momentum 0.999, 69 steps
    leave 93 % of the untrained weights in it, and the saved net predicts one class."""
    share = momentum ** steps
    if share > EMA_MAX_START_SHARE:
        highest = EMA_MAX_START_SHARE ** (1 / steps)
        raise ConfigError(f"ema {momentum:g} averages over about {1 / (1 - momentum):,.0f} steps, from the "
                          f"untrained weights; after this run's {steps:,} steps they would still be {share:.0%} of "
                          f"the average: set ema to {math.floor(highest * 1000) / 1000:g} or less, or train longer")


def within(value, low, high, option: str, *, lower_open: bool = False, upper_open: bool = False) -> None:
    ok = math.isfinite(value) and (value > low if lower_open else value >= low) and (
        value < high if upper_open else value <= high)
    if not ok:
        left, right = "(" if lower_open else "[", ")" if upper_open else "]"
        raise ConfigError(f"{option} must be in {left}{low:,}, {high:,}{right}, got {value}")


# --- the command line that repeats a run -----------------------------------------------------------

# Recipe fields with an option of their own on `train`; every other field goes through --set.
_TRAIN_OPTIONS = ("epochs", "batch_size", "lr", "optimizer", "schedule", "label_smoothing", "steps_per_execution")
_LABELS_OPTIONS = ("k", "select", "method", "features", "model", "epochs", "seed")


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return repr(value) if isinstance(value, float) else str(value)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def train_command(config: dict) -> list[str]:
    """The `mnistbench train` arguments that rebuild a run from its stored config: every recipe field
    and builder option spelt out, so the command still repeats the run after a default changes."""
    tc = TrainConfig.from_dict(config)
    r = tc.recipe
    args = ["train", tc.benchmark, "--model", tc.model]
    options = dict(tc.model_options)
    if "width" in options:
        args += ["--width", str(options.pop("width"))]
    for name in _TRAIN_OPTIONS:
        args += [_flag(name), _value(getattr(r, name))]
    args += ["--callbacks", _value(r.callbacks), "--augment" if r.augment else "--no-augment",
             "--seed", str(tc.seed), "--val-size", str(tc.val_size)]
    if tc.train_size is not None:
        args += ["--train-size", str(tc.train_size)]
    if not tc.save_model:
        args.append("--no-save-model")
    if tc.spread_threads:
        args.append("--spread-threads")
    shown = set(_TRAIN_OPTIONS) | {"callbacks", "augment"}
    for f in fields(Recipe):
        if f.name not in shown:
            args += ["--set", f"{f.name}={_value(getattr(r, f.name))}"]
    for name, value in sorted(options.items()):
        args += ["--set", f"{name}={_value(value)}"]
    return args


def labels_command(config: dict) -> list[str]:
    from .labels.settings import LabelsConfig  # noqa: PLC0415  (labels/ builds on this module)

    lc = LabelsConfig.from_dict(config)
    args = ["labels"]
    for name in _LABELS_OPTIONS:
        value = getattr(lc, name)
        if value is not None:
            args += [_flag(name), _value(value)]
    if lc.stratified:
        args.append("--stratified")
    for f in fields(LabelsConfig):
        value = getattr(lc, f.name)
        if f.name not in _LABELS_OPTIONS and f.name != "stratified" and value is not None:  # None: the default
            args += ["--set", f"{f.name}={_value(value)}"]
    return args


def merge_settings(options: dict, settings: dict) -> dict:
    """A command's own options and its `--set` pairs as one set of changes: `--set lr=0.01` is the same
    as `--lr 0.01`; giving both with different values is a mistake, said in one line."""
    merged = {k: v for k, v in options.items() if v is not None}
    for name, value in settings.items():
        if name in merged and merged[name] != value:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} {merged[name]} and --set {name}={value} disagree; give one of them")
        merged[name] = value
    return merged


MAX_WIDTH = 4096  # far above every zoo model's widths; beyond it a width-parameterised net outgrows memory


def check_width(width) -> int:
    """A width for a width-parameterised model, whether from --width or --set width=."""
    if type(width) is not int:
        raise ConfigError(f"width is a whole number of channels, got {width!r}")
    within(width, 1, MAX_WIDTH, "--width")
    return width


def parse_settings(settings: list[str] | None, target) -> tuple[dict, dict]:
    """`--set FIELD=VALUE` pairs, typed by the dataclass `target`'s field defaults: (its fields, the
    rest, which `train` hands to the model's builder)."""
    import json  # noqa: PLC0415

    known = {f.name: f for f in fields(target)}
    mine, rest = {}, {}
    for item in settings or ():
        name, sep, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ConfigError(f"--set takes FIELD=VALUE, got {item!r}")
        if name in known:
            mine[name] = _typed(name, raw.strip(), known[name])
        else:
            try:
                rest[name] = json.loads(raw)
            except ValueError:
                rest[name] = raw.strip()
    return mine, rest


def _typed(name: str, raw: str, f):
    default = f.default
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes")
        if isinstance(default, tuple):
            return tuple(p.strip() for p in raw.split(",") if p.strip() and p.strip() != "none")
        if isinstance(default, int) or (default is None and f.type in ("int | None", "Optional[int]")):
            return None if raw.lower() == "none" else int(raw)
        if isinstance(default, float):
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
        return "" if raw.lower() == "none" else raw  # e.g. --set teacher=none: no teacher
    except ValueError:
        raise ConfigError(f"--set {name}={raw}: not a valid {type(default).__name__}") from None


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    """`--seeds 0,1,2` or `--seeds 0-4`: distinct seeds in the order given; None when not given."""
    if text is None:
        return None
    shown = text if len(text) <= 60 else text[:60] + "…"
    ranges: list[tuple[int, int]] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if "-" in part[1:]:
                low, high = (int(v) for v in part.split("-", 1))
            else:
                low = high = int(part)
        except ValueError:
            raise ConfigError(f"--seeds takes a comma list or a range such as 0,1,2 or 0-4, got {shown!r}") from None
        within(low, 0, 2**32 - 1, "--seeds")
        within(high, 0, 2**32 - 1, "--seeds")
        ranges.append((low, high))
    # Counted before anything is expanded: `0-4294967295` must not build a list of four billion seeds.
    count = sum(max(0, high - low + 1) for low, high in ranges)
    if count == 0:
        raise ConfigError(f"--seeds names no seed: {shown!r}")
    if count > MAX_SEEDS:
        raise ConfigError(f"--seeds names {count:,} seeds; one command trains at most {MAX_SEEDS}")
    seeds = [seed for low, high in ranges for seed in range(low, high + 1)]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds names a seed twice: {shown!r}")
    return tuple(seeds)


MAX_SEEDS = 1000  # each seed is a training of its own: a thousand is already weeks on a laptop
