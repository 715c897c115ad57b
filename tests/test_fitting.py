"""The one fit path: what a recipe's fields turn into, the same for training, the labels CNNs and the
autoencoder."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mnistbench.backend import keras
from mnistbench.config import Recipe
from mnistbench.fitting import (
    classification_targets,
    compile_for,
    fit,
    learning_rate,
    make_optimizer,
    recipe_callbacks,
    steps_per_epoch,
)


def test_onecycle_warms_up_to_the_peak_then_decays():
    recipe = Recipe(lr=3e-3, epochs=10, schedule="onecycle", warmup=0.2)
    schedule = learning_rate(recipe, steps=10)  # 100 steps, 20 of them warming up
    assert float(schedule(0)) == pytest.approx(3e-4)
    assert float(schedule(20)) == pytest.approx(3e-3)
    assert float(schedule(99)) < 1e-4
    assert learning_rate(replace(recipe, schedule="constant"), steps=10) == 3e-3


def test_the_optimizer_carries_the_recipes_choices():
    adam = make_optimizer(Recipe(optimizer="adam", beta_1=0.7, ema=0.99), steps=5)
    assert isinstance(adam, keras.optimizers.Adam) and adam.use_ema and adam.ema_momentum == 0.99
    assert float(adam.beta_1) == pytest.approx(0.7)
    assert not make_optimizer(Recipe(), steps=5).use_ema
    assert isinstance(make_optimizer(Recipe(optimizer="sgd"), steps=5), keras.optimizers.SGD)


def test_callbacks_follow_the_recipe_and_validation():
    seed_like = Recipe(callbacks=("early_stopping", "reduce_lr", "decay"), ema=0.0)
    kinds = [type(c).__name__ for c in recipe_callbacks(seed_like, with_validation=True)]
    assert kinds == ["EarlyStopping", "ReduceLROnPlateau", "LearningRateScheduler"]
    # Without validation there is nothing to stop on, and no validation for the EMA swap to serve.
    averaged = replace(seed_like, ema=0.999)
    kinds = [type(c).__name__ for c in recipe_callbacks(averaged, with_validation=False)]
    assert kinds == ["ReduceLROnPlateau", "LearningRateScheduler"]
    assert "SwapEMAWeights" in [type(c).__name__ for c in recipe_callbacks(averaged, with_validation=True)]


def test_targets_and_loss_for_plain_smoothed_and_soft_labels():
    y = np.array([0, 3, 9])
    loss, targets = classification_targets(y)
    assert loss == "sparse_categorical_crossentropy" and targets is y
    loss, targets = classification_targets(y, 0.1)
    assert targets.shape == (3, 10) and loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    soft = np.full((3, 10), 0.1, dtype="float32")
    assert classification_targets(soft)[1] is soft


def test_fit_trains_for_the_recipes_epochs_with_its_schedule():
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = (x[:, :14].mean(axis=(1, 2, 3)) > x[:, 14:].mean(axis=(1, 2, 3))).astype("int64")  # learnable
    recipe = Recipe(lr=1e-2, epochs=3, batch_size=16, schedule="onecycle", callbacks=(), augment=False)
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    loss, targets = classification_targets(y)
    compile_for(net, recipe, len(x), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = fit(net, x, targets, recipe, seed=0, validation=(x[:16], y[:16]))
    assert len(history.history["loss"]) == 3 and "val_accuracy" in history.history
    assert int(net.optimizer.iterations.numpy()) == 3 * steps_per_epoch(len(x), recipe) == 12
    assert history.history["loss"][-1] < history.history["loss"][0]
