"""Training one model on one benchmark and recording it, however it ends.

The protocol lives here: validation comes out of the training images, the best epoch is chosen on
validation accuracy, and the test set is evaluated exactly once, after training. The run lives in a
`Store.recording` (recording.py), so a crash, Ctrl-C or SIGTERM never loses it.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from . import data as data_mod
from .artifacts import evaluate, save_model
from .backend import keras, tf
from .config import Status, TrainConfig
from .environment import run_environment
from .errors import MnistbenchError, TrainingFailed
from .fitting import classification_targets, compile_for, fit, steps_per_epoch
from .models import builder_options, create_model, get_spec, parameter_counts, with_test_time_shifts
from .store import Store
from .threads import ThreadSpreader

# Time-to-accuracy marks recorded for every run (DAWNBench style).
MILESTONES = {"99": 0.99, "995": 0.995}


@dataclass
class EpochReport:
    epoch: int
    epochs: int
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float  # since training start
    images_per_s: float


class Observer(Protocol):
    """What a front end gets told; the library itself never prints."""

    def on_start(self, run_id: int, config: TrainConfig, train_images: int, steps: int) -> None: ...
    def on_batch(self, step: int) -> None: ...
    def on_epoch(self, report: EpochReport) -> str | None: ...  # "stop" ends training after this epoch


@dataclass
class TrainResult:
    run_id: int
    status: str
    test_accuracy: float | None
    val_accuracy: float | None
    epochs_run: int
    train_seconds: float
    eval_seconds: float
    params_total: int
    labels_used: int
    model_path: str | None
    time_to_99: float | None = None


def set_determinism(seed: int) -> None:
    """Same seed, same machine, same accuracy: Keras's global seeds plus TensorFlow's op determinism."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def recipe_marks(recipe) -> list[str]:
    """What the board's flags column says about a recipe whose evaluated model is not the trained weights
    alone: allowed, the same for every run of the recipe, and shown beside its accuracy."""
    marks = [f"distilled from {recipe.teacher}"] if recipe.teacher else []
    if recipe.ema:
        marks.append(f"EMA weights {recipe.ema:g}")
    if recipe.tta_shift:
        marks.append(f"test-time shifts +-{recipe.tta_shift} px, 5 views")
    return marks


def current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)


class _Recorder(keras.callbacks.Callback):
    """Writes each epoch to the store, keeps the best-validation weights, notes time to 99 %."""

    def __init__(self, store: Store, run_id: int, epochs: int, train_images: int, observer: Observer | None,
                 net: keras.Model, head_start: float = 0.0):
        super().__init__()
        self.head_start = head_start  # seconds spent before fit (a teacher's training): the clock counts them
        self.store, self.run_id, self.epochs, self.train_images = store, run_id, epochs, train_images
        self.observer, self.net = observer, net
        self.best_val, self.best_weights, self.best_epoch = -1.0, None, 0
        self.epochs_done = 0
        self.milestones: dict[str, tuple[float, int]] = {}
        self.start = self.epoch_start = time.perf_counter()
        self.epoch_first_step = 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        self.epoch_first_step = int(self.model.optimizer.iterations.numpy())

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        now = time.perf_counter()
        val_acc = logs.get("val_accuracy")
        report = EpochReport(
            epoch=epoch + 1, epochs=self.epochs, loss=float(logs.get("loss", math.nan)),
            accuracy=float(logs.get("accuracy", math.nan)),
            val_loss=None if logs.get("val_loss") is None else float(logs["val_loss"]),
            val_accuracy=None if val_acc is None else float(val_acc),
            lr=current_lr(self.model.optimizer), seconds=now - self.start + self.head_start,
            images_per_s=self.train_images / max(now - self.epoch_start, 1e-9),
        )
        self.epochs_done = epoch + 1
        if val_acc is not None:
            if val_acc > self.best_val:
                self.best_val, self.best_epoch = float(val_acc), epoch + 1
                self.best_weights = self.net.get_weights()
            for name, mark in MILESTONES.items():
                if val_acc >= mark and name not in self.milestones:
                    self.milestones[name] = (report.seconds, epoch + 1)
        self.store.add_epoch(self.run_id, epoch=report.epoch, loss=report.loss, accuracy=report.accuracy,
                             val_loss=report.val_loss, val_accuracy=report.val_accuracy, lr=report.lr,
                             seconds=report.seconds, images_per_s=report.images_per_s)
        if self.observer is not None and self.observer.on_epoch(report) == "stop":
            self.model.stop_training = True  # e.g. a sweep's pruner gave up on this trial


class _StepPoller:
    """Tells the observer how far the epoch has got by reading the optimizer's step counter a few
    times a second from a thread. A per-batch Keras callback would do it too, but it costs every
    step a round trip to Python: 15 % of a small net's throughput on a CPU."""

    def __init__(self, recorder: _Recorder, optimizer, observer: Observer | None):
        self.recorder, self.optimizer, self.observer = recorder, optimizer, observer
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self.stop.wait(0.25):
            try:
                step = int(self.optimizer.iterations.numpy()) - self.recorder.epoch_first_step
            except Exception:  # the variable may be mid-creation on the first step
                continue
            self.observer.on_batch(max(step, 0))

    def __enter__(self):
        if self.observer is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()


def recorded_config(config: TrainConfig) -> dict:
    """The config as a run's row stores it: every builder argument written out, defaults included."""
    recorded = config.to_dict()
    recorded["model_options"] = builder_options(config.model, **config.model_options)
    return recorded


def train(config: TrainConfig, mnist: data_mod.Mnist, store: Store, *, observer: Observer | None = None,
          artifacts_dir: Path | None = None, extra: dict | None = None, evaluate_test: bool = True,
          callbacks: list | None = None) -> TrainResult:
    """Train `config.model`, evaluate it once on the test set, and record everything in `store`.

    With evaluate_test=False the test set is not touched (a search's candidate); the run keeps its saved
    model so that the one chosen on validation can be evaluated later with `evaluate_saved`.
    `callbacks` are extra Keras callbacks for `fit` (the throughput benchmark times epochs with one).
    """
    config.validate()
    get_spec(config.model)  # unknown names fail before anything is recorded
    r = config.recipe
    if r.teacher:
        get_spec(r.teacher)
    set_determinism(config.seed)
    split = data_mod.split(mnist, val_size=config.val_size, train_size=config.train_size, seed=config.seed)
    if config.select_on_test:  # the seed's protocol, for comparison only: the test set picks the epoch
        split = replace(split, x_val=split.x_test, y_val=split.y_test)
    keras.mixed_precision.set_global_policy(r.precision)
    try:
        net = create_model(config.model, **config.model_options)
    finally:
        keras.mixed_precision.set_global_policy("float32")  # layers keep the policy they were built with
    params_total, params_trainable = parameter_counts(net)

    recorded = recorded_config(config)
    columns = dict(benchmark=config.benchmark, model=config.model, config=recorded, params_total=params_total,
                   params_trainable=params_trainable, labels_used=split.labels_used, batch_size=r.batch_size,
                   seed=config.seed, epochs_run=0, **run_environment(), **(extra or {}))
    run = None
    try:
        with store.recording(**columns) as run:
            return _fit_and_evaluate(config, split, net, params_total, store, run, observer=observer,
                                     artifacts_dir=artifacts_dir, evaluate_test=evaluate_test, callbacks=callbacks)
    except (KeyboardInterrupt, MnistbenchError):
        raise
    except Exception as exc:  # recorded as failed by the recording; one line for the user
        first = (str(exc).strip().splitlines() or [""])[0][:300]  # TensorFlow's messages run to 90 lines
        where = f"run {run.run_id}" if run is not None else "training"
        show = f" (the whole error: `mnistbench show {run.run_id}`)" if run is not None else ""
        raise TrainingFailed(f"{where} failed: {exc.__class__.__name__}: {first}{show}") from exc


def distillation_targets(config: TrainConfig, split) -> tuple[np.ndarray, dict]:
    """Train the recipe's teacher on the split's training images (its own recipe, the run's seed, no
    validation or test image seen) and return the student's targets on those images with what the
    teacher did: its softened predictions, mixed with the true labels by teacher_weight."""
    r = config.recipe
    spec = get_spec(r.teacher)
    set_determinism(config.seed)  # the same teacher for the same seed, whatever was drawn before
    teacher = create_model(r.teacher)
    onehot = keras.utils.to_categorical(split.y_train, 10)
    loss, targets = classification_targets(onehot, spec.recipe.label_smoothing)
    compile_for(teacher, spec.recipe, len(split.x_train), loss=loss, metrics=())
    started = time.perf_counter()
    fit(teacher, split.x_train, targets, spec.recipe, config.seed)
    probabilities = teacher.predict(split.x_train, batch_size=1024, verbose=0)
    # Softening: p ** (1/T), renormalised, is softmax(logits / T) for a softmax output.
    softened = np.power(np.clip(probabilities, 1e-12, 1.0), 1.0 / r.teacher_temperature)
    softened /= softened.sum(axis=1, keepdims=True)
    targets = (r.teacher_weight * softened + (1 - r.teacher_weight) * onehot).astype("float32")
    info = {"model": r.teacher, "params": parameter_counts(teacher)[0], "seconds": time.perf_counter() - started,
            "train_accuracy": float(np.mean(probabilities.argmax(axis=1) == split.y_train))}
    if len(split.x_val):
        info["val_accuracy"] = evaluate(teacher, split.x_val, split.y_val)
    return targets, info


def _fit_and_evaluate(config: TrainConfig, split, net, params_total: int, store: Store, run, *,
                      observer, artifacts_dir, evaluate_test: bool, callbacks) -> TrainResult:
    r = config.recipe
    steps = steps_per_epoch(len(split.x_train), r)
    teacher_seconds = 0.0
    measured: dict = {}  # the run's details: what it found on the way, apart from what it was told
    flags = recipe_marks(r) + (["test-selected"] if config.select_on_test else [])
    if flags:
        run.set(flags=", ".join(flags))
    y_train = split.y_train
    if r.teacher:
        started = time.perf_counter()
        y_train, measured["teacher_run"] = distillation_targets(config, split)
        teacher_seconds = time.perf_counter() - started
        run.set(details=measured)
    loss, y_train = classification_targets(y_train, r.label_smoothing)
    y_val = split.y_val if isinstance(loss, str) else keras.utils.to_categorical(split.y_val, 10)
    compile_for(net, r, len(split.x_train), loss=loss)
    recorder = _Recorder(store, run.run_id, r.epochs, len(split.x_train), observer, net, head_start=teacher_seconds)
    if observer is not None:
        observer.on_start(run.run_id, config, len(split.x_train), steps)

    # After a few steps the first step's tracing is over and the compute threads are at work.
    spreader = ThreadSpreader(ready=lambda: int(net.optimizer.iterations.numpy()) >= 3,
                              enabled=config.spread_threads)
    start = time.perf_counter()
    try:
        with _StepPoller(recorder, net.optimizer, observer), spreader:
            fit(net, split.x_train, y_train, r, config.seed,
                validation=(split.x_val, y_val) if len(split.x_val) else None,
                callbacks=[recorder], extra_callbacks=callbacks or ())
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the epochs done still count, evaluated below
        run.interrupted("terminated (SIGTERM)" if exc.__class__.__name__ == "Terminated" else "interrupted (Ctrl-C)")
    finally:
        measured["threads_pinned"] = len(spreader.pinned)  # beside `spread_threads`: what it actually did
        run.set(train_seconds=time.perf_counter() - start + teacher_seconds, epochs_run=recorder.epochs_done,
                details=measured)
    train_seconds = time.perf_counter() - start + teacher_seconds

    if recorder.best_weights is not None and ("early_stopping" in r.callbacks or run.status == Status.interrupted):
        net.set_weights(recorder.best_weights)  # the best epoch on validation, never on test
    if r.tta_shift:
        net = with_test_time_shifts(net, r.tta_shift)  # evaluated and saved as one model
    eval_start = time.perf_counter()
    test_accuracy = evaluate(net, split.x_test, split.y_test) if recorder.epochs_done and evaluate_test else None
    eval_seconds = time.perf_counter() - eval_start
    best_val = recorder.best_val if recorder.best_val >= 0 else None
    t99 = recorder.milestones.get("99", (None, None))
    t995 = recorder.milestones.get("995", (None, None))
    if config.select_on_test:  # what it calls validation was the test set: no validation figure, no time to 99
        best_val, t99, t995 = None, (None, None), (None, None)
    run.set(test_accuracy=test_accuracy, val_accuracy=best_val, eval_seconds=eval_seconds,
            time_to_99=t99[0], epoch_to_99=t99[1], time_to_995=t995[0], epoch_to_995=t995[1])

    model_path = None
    if config.save_model and recorder.epochs_done:
        folder = Path(artifacts_dir).absolute() if artifacts_dir else store.artifacts_dir()
        target = folder / f"run-{run.run_id}.keras"
        try:
            sha = save_model(net, target)
            # Relative to the board's own folder, so verify works from any directory.
            run.set(model_path=str(target if artifacts_dir else target.relative_to(folder)), model_sha256=sha)
            model_path = str(target)
        except OSError as exc:  # the run and its test accuracy are recorded all the same
            run.set(flags=", ".join([*flags, "model not saved"]))
            measured["model_not_saved"] = f"{target}: {exc.strerror or exc}"
            run.set(details=measured)
    return TrainResult(run.run_id, run.status, test_accuracy, best_val, recorder.epochs_done, train_seconds,
                       eval_seconds, params_total=params_total, labels_used=split.labels_used, model_path=model_path,
                       time_to_99=t99[0])
