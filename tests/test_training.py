"""The training protocol on tiny synthetic data: recording, interruption, determinism, test used once."""

from __future__ import annotations

import numpy as np
import pytest

from mnistbench import fitting, training
from mnistbench.config import Recipe, TrainConfig
from mnistbench.errors import ConfigError
from mnistbench.store import Store

from .conftest import make_tiny_mnist


def config(**changes):
    recipe = Recipe(optimizer="adam", lr=3e-3, batch_size=32, epochs=changes.pop("epochs", 3),
                    callbacks=changes.pop("callbacks", ("early_stopping",)), augment=changes.pop("augment", False),
                    schedule=changes.pop("schedule", "constant"),
                    steps_per_execution=changes.pop("steps_per_execution", 1))
    return TrainConfig(benchmark="accuracy", model=changes.pop("model", "baseline"), recipe=recipe,
                       val_size=changes.pop("val_size", 50), **changes)


def test_train_records_everything(tiny_mnist, db_url, tmp_path, monkeypatch):
    calls = []
    real_evaluate = training.evaluate
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: calls.append(len(a[1])) or real_evaluate(*a, **k))
    store = Store(db_url)
    result = training.train(config(), tiny_mnist, store, artifacts_dir=tmp_path / "models")
    assert calls == [len(tiny_mnist.y_test)]  # the test set, once
    run = store.get_run(result.run_id, with_epochs=True)
    assert run.status == "finished" and run.epochs_run == 3 and len(run.epochs) == 3
    assert run.params_total == 62_834 and run.labels_used == 300
    assert run.test_accuracy == result.test_accuracy and 0 <= run.test_accuracy <= 1
    assert run.val_accuracy == max(e.val_accuracy for e in run.epochs)
    assert run.device.startswith(("CPU", "GPU")) and run.tf_version and run.keras_version
    assert run.config["recipe"]["batch_size"] == 32 and run.model_sha256 and run.train_seconds > 0
    assert (tmp_path / "models" / f"run-{run.id}.keras").exists()


def test_synthetic_digits_are_learnt(tiny_mnist, db_url):
    result = training.train(config(epochs=8, save_model=False), tiny_mnist, Store(db_url))
    assert result.test_accuracy > 0.5  # chance is 0.1


def test_same_seed_same_result(tiny_mnist, db_url):
    store = Store(db_url)
    a = training.train(config(seed=7, augment=True, save_model=False), tiny_mnist, store)
    b = training.train(config(seed=7, augment=True, save_model=False), tiny_mnist, store)
    assert a.test_accuracy == b.test_accuracy
    losses = [[e.loss for e in store.get_run(r.run_id, with_epochs=True).epochs] for r in (a, b)]
    assert losses[0] == losses[1]


class StopAfter:
    """An observer that presses Ctrl-C after `n` epochs."""

    def __init__(self, n):
        self.n = n

    def on_start(self, *args):
        pass

    def on_batch(self, step):
        pass

    def on_epoch(self, report):
        if report.epoch == self.n:
            raise KeyboardInterrupt


def test_ctrl_c_records_interrupted_with_best_weights_evaluated(tiny_mnist, db_url):
    store = Store(db_url)
    result = training.train(config(epochs=10, save_model=False), tiny_mnist, store, observer=StopAfter(2))
    run = store.get_run(result.run_id, with_epochs=True)
    assert run.status == "interrupted" and run.epochs_run == 2 and len(run.epochs) == 2
    assert run.test_accuracy is not None


def test_failure_is_recorded(tiny_mnist, db_url, monkeypatch):
    store = Store(db_url)

    def boom(*a, **k):
        raise RuntimeError("out of memory, say")

    monkeypatch.setattr(training.keras.Model, "fit", boom)
    with pytest.raises(training.TrainingFailed, match="out of memory"):
        training.train(config(), tiny_mnist, store)
    [run] = store.runs()
    assert run.status == "failed" and "out of memory" in run.error


@pytest.mark.parametrize(("changes", "message"), [
    ({"epochs": -1}, "--epochs must be at least 1"),
    ({"schedule": "onecycle", "callbacks": ("decay",)}, "sets the learning rate itself"),
    ({"callbacks": ("early_stopping",), "val_size": 0}, "needs a validation set"),
    ({"steps_per_execution": 0}, "--steps-per-execution must be at least 1"),
])
def test_bad_configs(tiny_mnist, db_url, changes, message):
    with pytest.raises(ConfigError, match=message):
        training.train(config(**changes), tiny_mnist, Store(db_url))
    assert Store(db_url).runs() == []


def test_time_to_accuracy_is_recorded(tiny_mnist, db_url):
    store = Store(db_url)
    result = training.train(config(epochs=10, save_model=False, callbacks=()), tiny_mnist, store)
    run = store.get_run(result.run_id, with_epochs=True)
    first = next((e for e in run.epochs if e.val_accuracy >= 0.99), None)
    assert run.epoch_to_99 == (first.epoch if first else None)
    if first:
        assert run.time_to_99 == pytest.approx(first.seconds)


def test_extra_callbacks_see_every_epoch(tiny_mnist, db_url):
    import keras

    class Count(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            Count.epochs += 1

    training.train(config(epochs=3, save_model=False), tiny_mnist, Store(db_url), callbacks=[Count()])
    assert Count.epochs == 3


def _batches_seen_by_train_step(db_url, monkeypatch, seed):
    """Train the real `train()` on images that carry their own index in two pixels, with a model
    whose train_step writes down each batch's indices: the order the optimizer actually saw."""
    import keras
    import tensorflow as tf

    mnist = make_tiny_mnist()
    ids = np.arange(len(mnist.x_train))
    mnist.x_train[:, 0, 0], mnist.x_train[:, 0, 1] = ids // 256, ids % 256
    seen: list[list[int]] = []

    class Witness(keras.Sequential):
        def train_step(self, data):
            x = tf.cast(tf.round(data[0][:, 0, 0, 0] * 255) * 256 + tf.round(data[0][:, 0, 1, 0] * 255), tf.int32)
            tf.py_function(lambda v: seen.append(v.numpy().tolist()) or 0, [x], tf.int32)
            return super().train_step(data)

    def build(name, **options):
        return Witness([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])

    monkeypatch.setattr(training, "create_model", build)
    training.train(config(epochs=3, seed=seed, callbacks=(), save_model=False, steps_per_execution=3),
                   mnist, Store(db_url))
    steps = -(-(len(ids) - 50) // 32)
    assert len(seen) == 3 * steps
    return [sum(seen[e * steps:(e + 1) * steps], []) for e in range(3)]


def test_every_epoch_sees_a_fresh_order_and_the_seed_repeats_it(db_url, monkeypatch):
    first = _batches_seen_by_train_step(db_url, monkeypatch, seed=5)
    assert all(sorted(epoch) == sorted(first[0]) for epoch in first)  # every training image once an epoch
    assert len(set(first[0])) == len(first[0]) == 250
    assert first[0] != first[1] != first[2] != first[0]  # a fresh order every epoch
    again = _batches_seen_by_train_step(db_url, monkeypatch, seed=5)
    assert again == first  # same seed, same machine: the same sequence of epochs
    other = _batches_seen_by_train_step(db_url, monkeypatch, seed=6)
    assert other[0] != first[0]


def test_batches_keep_images_with_their_labels_without_autotuning():
    from mnistbench.pipeline import batches

    x = np.arange(10, dtype="float32").reshape(10, 1)
    dataset = batches(x, np.arange(10), batch_size=4, seed=0)
    assert int(dataset.cardinality()) == 3  # known, so fit counts its steps
    assert dataset.options().autotune.enabled is False
    for _ in range(2):
        epoch = [(bx.numpy().ravel().tolist(), by.numpy().tolist()) for bx, by in dataset]
        assert [len(bx) for bx, _ in epoch] == [4, 4, 2]
        assert all(bx == by for bx, by in epoch)


def test_steps_per_execution_changes_only_the_speed(tiny_mnist, db_url):
    """Several steps per call into TensorFlow: the same batches in the same order, the last call of an
    epoch short (250 images / 32 = 8 steps, not a multiple of 3), so the same numbers."""
    store = Store(db_url)
    runs = [training.train(config(seed=3, save_model=False, steps_per_execution=n), tiny_mnist, store)
            for n in (1, 3)]
    assert runs[0].test_accuracy == runs[1].test_accuracy
    epochs = [store.get_run(r.run_id, with_epochs=True).epochs for r in runs]
    assert [(e.loss, e.val_accuracy) for e in epochs[0]] == [(e.loss, e.val_accuracy) for e in epochs[1]]
    assert store.get_run(runs[1].run_id).config["recipe"]["steps_per_execution"] == 3


@pytest.mark.parametrize("spread", [True, False])
def test_thread_placement_is_recorded(tiny_mnist, db_url, spread):
    store = Store(db_url)
    result = training.train(config(epochs=1, save_model=False, spread_threads=spread), tiny_mnist, store)
    run = store.get_run(result.run_id)
    assert run.config["spread_threads"] is spread and "threads_pinned" not in run.config
    if not spread:
        assert run.details["threads_pinned"] == 0


def _augmented_epochs(seed, recipe, epochs=2):
    from mnistbench.pipeline import batches

    x = make_tiny_mnist(n_train=64).x_train[..., None].astype("float32") / 255
    dataset = batches(x, np.arange(64), 16, seed, augment=recipe)
    return [np.concatenate([images.numpy() for images, _ in dataset]) for _ in range(epochs)], x


def test_augmentation_is_the_same_for_a_seed_and_new_every_epoch():
    recipe = Recipe(rotation=15, zoom=0.15, shear=0.1, shift=0.1)
    (first, second), x = _augmented_epochs(0, recipe)
    (again, again2), _ = _augmented_epochs(0, recipe)
    (other, _), _ = _augmented_epochs(1, recipe)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(second, again2)
    assert not np.allclose(first, second)  # a new draw (and order) every epoch
    assert not np.allclose(first, other)
    assert first.shape == x.shape and 0 <= first.min() and first.max() <= 1


def test_elastic_distortion_is_smooth_seeded_and_keeps_the_range():
    from mnistbench.augment import augment_batch
    from mnistbench.backend import tf

    x = tf.constant(make_tiny_mnist(n_train=16).x_train[..., None].astype("float32") / 255)
    seed = tf.constant([3, 4], tf.int64)
    flat = {"rotation": 0.0, "zoom": 0.0, "shear": 0.0, "shift": 0.0}
    np.testing.assert_allclose(augment_batch(x, seed, **flat, elastic_alpha=0.0).numpy(), x.numpy(), atol=1e-6)
    bent = augment_batch(x, seed, **flat, elastic_alpha=2.0, elastic_sigma=4.0).numpy()
    np.testing.assert_array_equal(bent, augment_batch(x, seed, **flat, elastic_alpha=2.0, elastic_sigma=4.0).numpy())
    assert bent.shape == tuple(x.shape) and bent.min() >= 0 and bent.max() <= 1 + 1e-6
    change = np.abs(bent - x.numpy()).mean()
    assert 0.005 < change < 0.2  # a distortion, not noise or a blank


def test_augmentation_warps_each_image_as_its_ranges_say():
    from mnistbench.augment import augment_batch, transforms
    from mnistbench.backend import tf

    x = make_tiny_mnist(n_train=32).x_train[..., None].astype("float32") / 255
    seed = tf.constant([0, 1], tf.int64)
    same = augment_batch(tf.constant(x), seed, rotation=0.0, zoom=0.0, shear=0.0, shift=0.0).numpy()
    np.testing.assert_allclose(same, x, atol=1e-6)  # zero ranges: the identity
    rows = transforms(seed, 1000, rotation=15, zoom=0.15, shear=0.1, shift=0.1).numpy()
    # The inverse of a rotation by at most 15 degrees with zoom in [0.85, 1.15]: diagonal near 1, shifts of
    # at most 0.1 x 28 pixels moved through it.
    assert np.all(np.abs(rows[:, 0] - 1) < 0.35) and np.all(np.abs(rows[:, 4] - 1) < 0.35)
    assert np.all(rows[:, 6:] == 0)
    translation = transforms(seed, 50, 0.0, 0.0, 0.0, 0.1).numpy()  # a shift alone: read from p - t
    np.testing.assert_allclose(translation[:, [0, 1, 3, 4]], [[1, 0, 0, 1]] * 50, atol=1e-6)
    assert np.all(np.abs(translation[:, [2, 5]]) <= 2.8 + 1e-5) and np.abs(translation[:, 2]).max() > 1
    bar = np.zeros((1, 28, 28, 1), np.float32)
    bar[0, 5:20, 10] = 1.0  # a vertical bar in column 10
    moved = augment_batch(tf.constant(bar), seed, rotation=0.0, zoom=0.0, shear=0.0, shift=0.1).numpy()[0, :, :, 0]
    offset_x = transforms(seed, 1, 0.0, 0.0, 0.0, 0.1).numpy()[0, 2]
    weights = moved.sum(axis=0)
    centre = (weights * np.arange(28)).sum() / weights.sum()
    assert abs(centre - (10 - offset_x)) < 0.05  # output x reads input x + offset: the bar moved by -offset


@pytest.mark.parametrize("train_size", [10, 32])
def test_a_single_step_one_cycle_run_trains(train_size, db_url):
    """One step in all (tiny data, a batch larger than it): the one-cycle schedule still has a step to decay."""
    mnist = make_tiny_mnist()
    result = training.train(config(epochs=1, schedule="onecycle", callbacks=(), save_model=False,
                                   train_size=train_size), mnist, Store(db_url))
    assert result.status == "finished" and result.epochs_run == 1


def test_distillation_trains_the_teacher_on_training_images_only_and_counts_only_the_student(
        tiny_mnist, db_url, monkeypatch):
    seen = []
    real_batches = fitting.batches  # every fit, the teacher's too, draws its batches through the one fit path
    monkeypatch.setattr(fitting, "batches", lambda x, *a, **k: seen.append(len(x)) or real_batches(x, *a, **k))
    cfg = config(model="shared", epochs=2, save_model=False, val_size=50)
    cfg.recipe = Recipe(**{**cfg.recipe.__dict__, "teacher": "fast"})
    store = Store(db_url)
    result = training.train(cfg, tiny_mnist, store)
    run = store.get_run(result.run_id)
    train_images = len(tiny_mnist.y_train) - 50
    assert seen == [train_images, train_images]  # the teacher's fit, then the student's: no other image
    assert run.flags == "distilled from fast"
    teacher = run.details["teacher_run"]
    assert teacher["model"] == "fast" and teacher["params"] == 215_290 and 0 <= teacher["val_accuracy"] <= 1
    assert run.params_total == 1_936  # the student alone
    assert run.train_seconds >= teacher["seconds"]


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_distillation_targets_mix_softened_teacher_predictions_with_the_labels(tiny_mnist, weight):
    from mnistbench import data as data_mod

    split = data_mod.split(tiny_mnist, val_size=50, seed=0)
    cfg = config(model="shared")
    onehot = np.eye(10, dtype="float32")[split.y_train]
    sharp, _ = training.distillation_targets(
        TrainConfig("params", "shared", Recipe(**{**cfg.recipe.__dict__, "teacher": "fast", "teacher_weight": weight,
                                                   "teacher_temperature": 1.0})), split)
    soft, _ = training.distillation_targets(
        TrainConfig("params", "shared", Recipe(**{**cfg.recipe.__dict__, "teacher": "fast", "teacher_weight": weight,
                                                   "teacher_temperature": 4.0})), split)
    for targets in (sharp, soft):
        assert targets.shape == onehot.shape and np.allclose(targets.sum(axis=1), 1, atol=1e-5)
    if weight == 0:
        assert np.array_equal(sharp, onehot)
    else:  # the teacher's part, from the same teacher (same seed), softened: less confident, same ranking
        sharp_teacher, soft_teacher = ((t - (1 - weight) * onehot) / weight for t in (sharp, soft))
        assert np.all(soft_teacher.max(axis=1) <= sharp_teacher.max(axis=1) + 1e-5)
        assert np.array_equal(soft_teacher.argmax(axis=1), sharp_teacher.argmax(axis=1))


def test_weight_averaging_evaluates_and_saves_the_average(tiny_mnist, db_url, tmp_path, monkeypatch):
    """With ema, fit ends with the average written into the weights: the model evaluated and saved is the
    average, not the last step's weights, and the board's flags say so. A momentum this close to 1 keeps
    the average near the initial weights, whatever the later steps did."""
    import dataclasses

    from mnistbench.artifacts import load_saved

    class Watch(training.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.initial = [w.numpy().copy() for w in self.model.trainable_weights]

        def on_epoch_end(self, epoch, logs=None):
            self.last = [w.numpy().copy() for w in self.model.trainable_weights]

    from mnistbench import config as config_module

    # A run this short would be refused (config.check_ema_horizon, tested in test_request): allowed here,
    # since an average that barely moves is what tells it apart from the last weights.
    monkeypatch.setattr(config_module, "EMA_MAX_START_SHARE", 1.0)
    watch = Watch()
    base = config(callbacks=(), epochs=2)
    averaged = dataclasses.replace(base, recipe=dataclasses.replace(base.recipe, ema=0.99999))
    store = Store(db_url)
    result = training.train(averaged, tiny_mnist, store, artifacts_dir=tmp_path, callbacks=[watch])
    run = store.get_run(result.run_id)
    assert run.flags == "EMA weights 0.99999" and run.config["recipe"]["ema"] == 0.99999
    saved = [w.numpy() for w in load_saved(tmp_path / f"run-{run.id}.keras").trainable_weights]
    distance = lambda a, b: max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))  # noqa: E731
    # Keras starts the average from the weights after the first step: one Adam step (lr 3e-3) from the start.
    assert distance(saved, watch.initial) < 0.005 < distance(saved, watch.last)


def test_weight_averaging_refuses_early_stopping(tiny_mnist, db_url):
    import dataclasses

    base = config()
    with pytest.raises(ConfigError, match="ema averages the weights over a fixed number of epochs"):
        training.train(dataclasses.replace(base, recipe=dataclasses.replace(base.recipe, ema=0.99)), tiny_mnist,
                       Store(db_url))


def test_test_time_shifts_average_five_views_with_the_same_parameters(tiny_mnist, db_url, tmp_path):
    import dataclasses

    from mnistbench.artifacts import evaluate, load_saved
    from mnistbench.data import to_float
    from mnistbench.models import create_model, parameter_counts, with_test_time_shifts

    net = create_model("fast")
    views = with_test_time_shifts(net, 2)
    assert parameter_counts(views) == parameter_counts(net)
    image = np.zeros((1, 28, 28, 1), "float32")
    image[0, 10, 12, 0] = 1.0
    moved = [layer(image).numpy()[0, :, :, 0] for layer in views.layers if layer.name.startswith("shift_")]
    assert [tuple(np.argwhere(m)[0]) for m in moved] == [(10, 12), (10, 14), (10, 10), (12, 12), (8, 12)]
    expected = np.mean([net(m[None, :, :, None]).numpy() for m in moved], axis=0)
    assert np.allclose(views(image).numpy(), expected, atol=1e-6)

    base = config(callbacks=(), epochs=1)
    shifted = dataclasses.replace(base, recipe=dataclasses.replace(base.recipe, tta_shift=1))
    store = Store(db_url)
    result = training.train(shifted, tiny_mnist, store, artifacts_dir=tmp_path)
    run = store.get_run(result.run_id)
    assert run.flags == "test-time shifts +-1 px, 5 views" and run.params_total == 62_834
    saved = load_saved(tmp_path / f"run-{run.id}.keras")  # the saved model carries the five views
    assert sum(layer.name.startswith("shift_") for layer in saved.layers) == 5
    assert evaluate(saved, to_float(tiny_mnist.x_test), tiny_mnist.y_test.astype(np.int64)) == run.test_accuracy


def test_the_seed_protocol_is_flagged_and_its_test_chosen_epoch_is_not_called_validation(tiny_mnist, db_url):
    import dataclasses

    base = dataclasses.replace(config(epochs=3, callbacks=("early_stopping",)), val_size=0, select_on_test=True)
    store = Store(db_url)
    result = training.train(base, tiny_mnist, store, callbacks=[])
    run = store.get_run(result.run_id, with_epochs=True)
    assert run.flags == "test-selected" and run.val_accuracy is None and run.time_to_99 is None
    assert run.labels_used == len(tiny_mnist.y_train) and run.config["select_on_test"] is True
    # What the epochs call validation is the test set: the best of it is the run's (test-chosen) figure.
    assert max(e.val_accuracy for e in run.epochs) == pytest.approx(run.test_accuracy)
    with pytest.raises(ConfigError, match="leave out --val-size"):
        dataclasses.replace(base, val_size=50).validate()


def test_a_saved_model_with_test_time_shifts_loads_in_a_fresh_process(tiny_mnist, db_url, tmp_path):
    """verify, ensemble and import-run load models in processes that never built one: the zoo's own
    layers must be known to Keras there too."""
    import dataclasses
    import subprocess
    import sys

    base = config(callbacks=(), epochs=1, model="fast")
    shifted = dataclasses.replace(base, recipe=dataclasses.replace(base.recipe, tta_shift=1))
    run_id = training.train(shifted, tiny_mnist, Store(db_url), artifacts_dir=tmp_path).run_id
    code = ("import sys; from mnistbench.artifacts import load_saved; from mnistbench.transfer import load_safely; "
            "from pathlib import Path; p = Path(sys.argv[1]); load_saved(p); load_safely(p, 'x'); print('loaded')")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"run-{run_id}.keras")], capture_output=True,
                          text=True, timeout=300)
    assert done.stdout.strip() == "loaded", done.stderr[-2000:]
