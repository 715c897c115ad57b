"""One fit path: a `Recipe`'s optimizer, schedule, loss and callbacks, and Keras's fit over our input pipeline.

Training (plain and distilled), distillation's teacher, the labels CNNs and the autoencoder all compile and
fit through here, so that a recipe's field means the same thing wherever it is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .backend import keras
from .config import Recipe
from .pipeline import batches


def steps_per_epoch(images: int, recipe: Recipe) -> int:
    return max(1, math.ceil(images / recipe.batch_size))


def learning_rate(recipe: Recipe, steps: int):
    """A float, or a per-step schedule for onecycle/cosine (onecycle warms up over the recipe's `warmup`).

    `steps` is the number of training steps in an epoch."""
    total = max(1, recipe.epochs * steps)
    if recipe.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(recipe.lr, decay_steps=total, alpha=0.01)
    if recipe.schedule == "onecycle":
        warmup = max(1, int(recipe.warmup * total))
        # A run of a single step (a tiny --train-size) still gets a schedule: at least one step to decay.
        return keras.optimizers.schedules.CosineDecay(recipe.lr / 10, decay_steps=max(1, total - warmup),
                                                      alpha=0.001, warmup_target=recipe.lr, warmup_steps=warmup)
    return recipe.lr


def make_optimizer(recipe: Recipe, steps: int):
    lr = learning_rate(recipe, steps)
    # Keras keeps the average beside the weights and writes it into them when fit ends.
    ema = {"use_ema": True, "ema_momentum": recipe.ema} if recipe.ema else {}
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(lr, beta_1=recipe.beta_1, beta_2=recipe.beta_2, **ema)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay or 1e-4, beta_1=recipe.beta_1,
                                      beta_2=recipe.beta_2, **ema)
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=recipe.momentum, nesterov=True, **ema)
    return keras.optimizers.RMSprop(lr, **ema)


def recipe_callbacks(recipe: Recipe, *, with_validation: bool) -> list[keras.callbacks.Callback]:
    """The callbacks a recipe names, and the EMA swap that lets validation see the averaged weights."""
    out = []
    if "early_stopping" in recipe.callbacks and with_validation:
        # The best weights are restored by the caller (training's recorder, which also covers Ctrl-C).
        out.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=recipe.patience, mode="max"))
    if "reduce_lr" in recipe.callbacks:
        out.append(keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=recipe.reduce_lr_factor,
                                                     patience=recipe.reduce_lr_patience, min_lr=recipe.min_lr))
    if "decay" in recipe.callbacks:
        base, rate = recipe.lr, recipe.decay_rate
        out.append(keras.callbacks.LearningRateScheduler(lambda epoch: base * rate ** epoch))  # the seed's
    if recipe.ema and with_validation:
        out.append(keras.callbacks.SwapEMAWeights())  # validation sees the weights that will be evaluated
    return out


def classification_targets(y: np.ndarray, smoothing: float = 0.0):
    """(loss, targets) for class labels or soft targets: sparse cross-entropy for plain labels, one-hot
    targets under a smoothed categorical cross-entropy otherwise (soft targets stay as they are)."""
    if y.ndim == 1 and not smoothing:
        return "sparse_categorical_crossentropy", y
    targets = keras.utils.to_categorical(y, 10) if y.ndim == 1 else y
    return keras.losses.CategoricalCrossentropy(label_smoothing=smoothing), targets


def compile_for(net: keras.Model, recipe: Recipe, images: int, *, loss,
                metrics: Sequence[str] = ("accuracy",)) -> None:
    """Compile `net` to be fitted on `images` training images under `recipe`."""
    net.compile(optimizer=make_optimizer(recipe, steps_per_epoch(images, recipe)), loss=loss,
                metrics=list(metrics), steps_per_execution=recipe.steps_per_execution)


def fit(net: keras.Model, x: np.ndarray, y: np.ndarray, recipe: Recipe, seed: int, *,
        validation: tuple[np.ndarray, np.ndarray] | None = None, callbacks: Sequence = (),
        extra_callbacks: Sequence = ()):
    """Fit a net compiled by `compile_for` for the recipe's epochs, on batches shuffled afresh every epoch
    from `seed`, augmented as the recipe says. `callbacks` run before the recipe's own, `extra_callbacks`
    after them (the order matters to a recorder that reads validation after the EMA swap)."""
    return net.fit(
        batches(x, y, recipe.batch_size, seed, augment=recipe if recipe.augment else None),
        shuffle=False, epochs=recipe.epochs, verbose=0, validation_data=validation,
        callbacks=[*callbacks, *recipe_callbacks(recipe, with_validation=validation is not None),
                   *extra_callbacks])
