"""Design probe, not a result: is the seed's `tuned` net held back by its BatchNormalization statistics?

    python -m benchmarks.tuned_bn [--train-size N] [--epochs 10] [--seed 0] [--set FIELD=VALUE ...]

Trains `tuned` with its own recipe (no early stopping: no validation during the fit) on the 55,000 training
images (or a stratified subset) and, after every epoch, scores the held-out validation images (5,000 training
images, never the test set) two ways: as Keras evaluates it (each BatchNormalization layer normalising by its
moving averages), and with every such layer's averages replaced by the exact mean and variance of its inputs
over 10,000 of the training images (layer by layer, in order; the moving averages are put back before training
goes on). After the last epoch it prints how far each layer's moving mean lagged the true one, in units of the
true standard deviation. `--set` pairs are recipe fields or builder arguments of the net (dropout, noise,
activation, ...). Writes benchmarks/results/tuned_bn.json.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.common import save
from mnistbench.backend import keras
from mnistbench.config import DEFAULT_VAL_SIZE, override, parse_settings
from mnistbench.data import load_mnist, split
from mnistbench.fitting import classification_targets, compile_for, fit
from mnistbench.models import create_model, get_spec
from mnistbench.training import set_determinism


def accuracy(net: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    predictions = [net(x[i:i + 256], training=False).numpy().argmax(1) for i in range(0, len(x), 256)]
    return float((np.concatenate(predictions) == y).mean())


def recalibrate(net: keras.Model, x: np.ndarray) -> list[dict]:
    """Set every BatchNormalization layer's moving statistics to its inputs' exact ones over `x`, in order
    (each layer sees the layers before it already recalibrated). Returns each layer's lag before."""
    lags = []
    for layer in net.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        feed = keras.Model(net.inputs[0], layer.input)
        inputs = np.concatenate([feed(x[i:i + 1024], training=False).numpy() for i in range(0, len(x), 1024)])
        axes = tuple(range(inputs.ndim - 1))
        mean, var = inputs.mean(axes), inputs.var(axes)
        old_mean, old_var = (w.numpy() for w in (layer.moving_mean, layer.moving_variance))
        scale = np.sqrt(var + layer.epsilon)
        lags.append({"layer": layer.name, "true_std_median": float(np.median(np.sqrt(var))),
                     "mean_lag_in_std_median": float(np.median(np.abs(old_mean - mean) / scale)),
                     "mean_lag_in_std_max": float(np.max(np.abs(old_mean - mean) / scale)),
                     "variance_ratio_median": float(np.median((old_var + layer.epsilon) / (var + layer.epsilon)))})
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(var)
    return lags


class BothWays(keras.callbacks.Callback):
    """After each epoch: validation accuracy with the moving averages, then recalibrated; averages restored."""

    def __init__(self, x_calibrate: np.ndarray, x_val: np.ndarray, y_val: np.ndarray):
        super().__init__()
        self.x_calibrate, self.x_val, self.y_val = x_calibrate, x_val, y_val
        self.epochs: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        norms = [layer for layer in self.model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        kept = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in norms]
        moving = accuracy(self.model, self.x_val, self.y_val)
        lags = recalibrate(self.model, self.x_calibrate)
        recalibrated = accuracy(self.model, self.x_val, self.y_val)
        for layer, (mean, var) in zip(norms, kept, strict=True):
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(var)
        self.epochs.append({"epoch": epoch + 1, "train_accuracy": float(logs["accuracy"]),
                            "val_moving_averages": moving, "val_recalibrated": recalibrated, "lags": lags})
        print(f"epoch {epoch + 1:3d}  train {100 * logs['accuracy']:6.2f} %  val {100 * moving:6.2f} %  "
              f"recalibrated {100 * recalibrated:6.2f} %", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=None, help="a stratified subset (default: all 55,000)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()

    spec = get_spec("tuned")
    recipe = override(spec.recipe, epochs=args.epochs)
    recipe_settings, builder = parse_settings(args.settings, type(recipe))
    recipe = override(recipe, **recipe_settings)
    data = split(load_mnist(), val_size=DEFAULT_VAL_SIZE, train_size=args.train_size, seed=args.seed)
    set_determinism(args.seed)
    net = create_model("tuned", **builder)
    loss, targets = classification_targets(data.y_train, recipe.label_smoothing)
    compile_for(net, recipe, len(data.x_train), loss=loss)
    calibration = data.x_train[np.random.default_rng(args.seed).permutation(len(data.x_train))[:10000]]
    both = BothWays(calibration, data.x_val, data.y_val)
    fit(net, data.x_train, targets, recipe, args.seed, extra_callbacks=[both])

    result = {"train_size": len(data.x_train), "epochs": args.epochs, "seed": args.seed, "builder": builder,
              "recipe_changes": recipe_settings,
              "per_epoch": both.epochs}
    for lag in both.epochs[-1]["lags"]:
        print(f"  {lag['layer']:24} true std {lag['true_std_median']:.4f}  moving mean off by "
              f"{lag['mean_lag_in_std_median']:.2f} std (max {lag['mean_lag_in_std_max']:.1f})  "
              f"moving/true variance {lag['variance_ratio_median']:.2f}")
    save("tuned_bn", result)


if __name__ == "__main__":
    main()
