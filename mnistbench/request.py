"""What a command was asked, turned into the library's configs. The command line only passes its options
through; the rules (defaults, merging a flag with its `--set` twin, what a target is) live here.

Everything here is checked before TensorFlow or MNIST loads, so a typo costs a second, not a training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import DEFAULT_MODELS, Recipe, TrainConfig, check_width, merge_settings, override, parse_settings
from .errors import ConfigError


def target_fraction(percent: float | None) -> float | None:
    """`--target` (a percentage, for every command that takes one) as the fraction the library ranks by."""
    if percent is None:
        return None
    if not 0 < percent <= 100:  # NaN fails this too
        raise ConfigError(f"--target is a percentage between 0 and 100, got {percent}")
    return percent / 100


def parse_callbacks(text: str | None) -> tuple[str, ...] | None:
    """`--callbacks a,b` as the recipe's tuple; `none` (or nothing between the commas) is the empty one."""
    if text is None:
        return None
    return tuple(c.strip() for c in text.split(",") if c.strip() and c.strip() != "none")


@dataclass(frozen=True)
class TrainRequest:
    """A `train` command's options, checked and merged with its `--set` pairs; `config(recipe)` applies
    them to the chosen model's own recipe once the model is known."""

    benchmark: str
    model: str
    recipe_changes: dict = field(default_factory=dict)  # only what was given; the rest is the recipe's
    model_options: dict = field(default_factory=dict)  # builder arguments, e.g. {"width": 8}
    run_options: dict = field(default_factory=dict)  # seed, val_size, train_size where given
    save_model: bool = True
    spread_threads: bool = False
    seed_protocol: bool = False

    def config(self, recipe: Recipe) -> TrainConfig:
        return TrainConfig(benchmark=self.benchmark, model=self.model, recipe=override(recipe, **self.recipe_changes),
                           model_options=dict(self.model_options), save_model=self.save_model,
                           spread_threads=self.spread_threads, select_on_test=self.seed_protocol,
                           **self.run_options).validate()


def train_request(benchmark: str, model: str | None, *, recipe_options: dict, settings: list[str] | None,
                  width: int | None = None, seed: int | None = None, val_size: int | None = None,
                  train_size: int | None = None, save_model: bool = True, spread_threads: bool = False,
                  seed_protocol: bool = False) -> TrainRequest:
    """`recipe_options` are the command's recipe flags (None where not given, `callbacks` as typed);
    `settings` its `--set FIELD=VALUE` pairs: a recipe field, or else a builder argument of the model.
    A flag and a `--set` of the same field must agree."""
    recipe_settings, model_settings = parse_settings(settings, Recipe)
    options = {**recipe_options, "callbacks": parse_callbacks(recipe_options.get("callbacks"))}
    options = {k: getattr(v, "value", v) for k, v in options.items()}  # choices as their plain values
    changes = merge_settings(options, recipe_settings)
    if "width" in model_settings:
        width = merge_settings({"width": width}, {"width": model_settings.pop("width")})["width"]
    model_options = {**model_settings, **({"width": check_width(width)} if width is not None else {})}
    # The seed's protocol trains on all 60,000 images: no validation unless one is asked for.
    given = {"seed": seed, "val_size": 0 if seed_protocol and val_size is None else val_size, "train_size": train_size}
    return TrainRequest(benchmark=benchmark, model=model or DEFAULT_MODELS[benchmark], recipe_changes=changes,
                        model_options=model_options, run_options={k: v for k, v in given.items() if v is not None},
                        save_model=save_model, spread_threads=spread_threads, seed_protocol=seed_protocol)



def labels_config(options: dict, settings: list[str] | None, *, stratified: bool = False):
    """A `labels` command's options (None where not given) and `--set` pairs as its LabelsConfig, checked.
    Every `--set` name must be a field of the labels config: a labels run has no model builder to pass
    the rest to."""
    from .labels.settings import LabelsConfig  # noqa: PLC0415  (labels/ stays unloaded for train)

    chosen, unknown = parse_settings(settings, LabelsConfig)
    if unknown:
        raise ConfigError(f"--set {next(iter(unknown))}: not a field of the labels config")
    given = {name: getattr(value, "value", value) for name, value in options.items() if value is not None}
    return LabelsConfig(stratified=stratified, **{**chosen, **given}).validate()
