"""One test per registered model: build, forward a batch of 8, output shape, finiteness, exact count."""

from __future__ import annotations

import numpy as np
import pytest

from mnistbench import models
from mnistbench.errors import UnknownModel

# Counted by hand from the layer shapes (seed-notes.md); count_params() includes BatchNorm's moving stats.
EXPECTED = {
    ("baseline", None): 62_834,
    ("tuned", None): 95_488,
    ("deotte", None): 327_242,
    ("record", None): 327_242,  # deotte's net at dropout 0.3: the same weights
    ("fast", None): 215_290,
    ("medium", None): 424_258,
    ("tiny", 4): 814,
    ("tiny", 5): 1_090,
    ("tiny", 6): 1_396,
    ("tiny", 7): 1_732,
    ("tiny", 8): 2_098,
    # shared: w^2 + 35w + 350 (the reused separable conv counted once, 2 per SampleNorm)
    ("shared", 12): 914,
    ("shared", 16): 1_166,
    ("shared", 20): 1_450,
    ("shared", 24): 1_766,
    ("shared", 26): 1_936,
    # lean: w^2 + 29w + 176 (shared less its Dense16 and that layer's SampleNorm, two more uses of the
    # shared conv, each with a SampleNorm of its own; the head is 10w + 10)
    ("lean", 13): 722,
    ("lean", 15): 836,
    ("lean", 17): 958,
}


def cases():
    for name in models.list_models():
        spec = models.get_spec(name)
        for width in spec.widths or (None,):
            yield name, width


@pytest.mark.parametrize(("name", "width"), list(cases()))
def test_model_builds_forwards_and_counts(name, width):
    model = models.create_model(name, **({"width": width} if width else {}))
    out = model(np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32), training=False)
    out = np.asarray(out)
    assert out.shape == (8, 10)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert models.parameter_counts(model)[0] == EXPECTED[(name, width)]


def test_every_registered_model_has_an_expected_count():
    assert set(cases()) == set(EXPECTED)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(UnknownModel, match="known models: baseline, deotte, fast"):
        models.create_model("resnet9000")


def test_bad_override_is_a_domain_error():
    with pytest.raises(UnknownModel, match="does not take"):
        models.create_model("baseline", width=3)


def test_a_builder_value_keras_refuses_is_a_domain_error():
    with pytest.raises(UnknownModel, match=r"model 'lean' cannot be built with first=0: .*filters"):
        models.create_model("lean", first=0)


def test_every_model_declares_a_recipe():
    for name in models.list_models():
        spec = models.get_spec(name)
        assert spec.recipe.epochs >= 1 and spec.description and spec.source


def test_shared_block_is_one_set_of_weights_and_survives_saving(tmp_path):
    import keras

    model = models.create_model("shared", width=12)
    separable = [layer for layer in model.layers if isinstance(layer, keras.layers.SeparableConv2D)]
    assert len(separable) == 2  # the first, and the one applied three times
    x = np.random.default_rng(1).random((4, 28, 28, 1), dtype=np.float32)
    path = tmp_path / "shared.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)


def test_sample_norm_normalises_each_image_whole():
    x = np.random.default_rng(2).normal(3.0, 5.0, (2, 6, 6, 4)).astype(np.float32)
    out = np.asarray(models.SampleNorm()(x))
    np.testing.assert_allclose(out.reshape(2, -1).mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.reshape(2, -1).std(axis=1), 1.0, rtol=1e-3)


def test_sample_norm_gradient_is_the_derivative_of_its_formula():
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(3).normal(1.0, 4.0, (3, 5, 5, 6)).astype(np.float32))
    weights = tf.constant(np.random.default_rng(4).normal(size=(3, 5, 5, 6)).astype(np.float32))
    layer = models.SampleNorm()
    layer.build(x.shape)
    layer.gamma.assign(1.7)
    layer.beta.assign(-0.3)

    def plain(x):  # the formula, left to TensorFlow's automatic derivative
        mean = tf.reduce_mean(x, axis=(1, 2, 3), keepdims=True)
        variance = tf.math.reduce_variance(x, axis=(1, 2, 3), keepdims=True)
        return layer.gamma * (x - mean) * tf.math.rsqrt(variance + layer.epsilon) + layer.beta

    gradients = []
    for function in (layer, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.sin(function(x)) * weights)
        gradients.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for ours, reference in zip(*gradients, strict=True):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(reference), rtol=1e-4, atol=1e-5)
