"""A command's options turned into the library's configs, checked before anything heavy loads."""

from __future__ import annotations

import math

import pytest

from mnistbench.config import Optimizer, Recipe
from mnistbench.errors import ConfigError
from mnistbench.request import parse_callbacks, target_fraction, train_request

NO_FLAGS = dict(epochs=None, lr=None, optimizer=None, callbacks=None)


@pytest.mark.parametrize("bad", [0, -1, 100.5, math.nan, math.inf])
def test_a_target_is_a_percentage(bad):
    with pytest.raises(ConfigError, match="--target is a percentage between 0 and 100"):
        target_fraction(bad)
    assert target_fraction(99.5) == pytest.approx(0.995) and target_fraction(None) is None


def test_callbacks_none_is_the_empty_tuple():
    assert parse_callbacks("none") == () and parse_callbacks("decay, reduce_lr") == ("decay", "reduce_lr")
    assert parse_callbacks(None) is None


def test_flags_and_set_pairs_merge_onto_the_models_recipe():
    request = train_request("accuracy", "tuned", recipe_options={**NO_FLAGS, "lr": 0.01, "optimizer": Optimizer.sgd},
                            settings=["rotation=5", "lr=0.01", "dropout=0.3"], seed=3)
    config = request.config(Recipe(epochs=7, rotation=15.0))
    assert (config.recipe.lr, config.recipe.optimizer, config.recipe.rotation, config.recipe.epochs) == (
        0.01, "sgd", 5.0, 7)
    assert config.model_options == {"dropout": 0.3} and config.seed == 3 and config.model == "tuned"


def test_a_flag_and_a_set_pair_that_disagree_fail_in_one_line():
    with pytest.raises(ConfigError, match="--lr 0.01 and --set lr=0.02 disagree"):
        train_request("accuracy", None, recipe_options={**NO_FLAGS, "lr": 0.01}, settings=["lr=0.02"])


def test_the_default_model_and_the_seed_protocol():
    assert train_request("params", None, recipe_options=NO_FLAGS, settings=None).model == "shared"
    protocol = train_request("accuracy", None, recipe_options=NO_FLAGS, settings=None, seed_protocol=True)
    config = protocol.config(Recipe())
    assert protocol.model == "baseline" and config.val_size == 0 and config.select_on_test


def test_width_from_the_flag_or_a_set_pair_but_not_both_differently():
    assert train_request("params", "shared", recipe_options=NO_FLAGS, settings=["width=6"]).model_options == {"width": 6}
    with pytest.raises(ConfigError, match="disagree"):
        train_request("params", "shared", recipe_options=NO_FLAGS, settings=["width=6"], width=7)
    with pytest.raises(ConfigError, match="width"):
        train_request("params", "shared", recipe_options=NO_FLAGS, settings=None, width=0)


def test_labels_options_and_set_pairs_become_a_checked_labels_config():
    from mnistbench.config import Selection
    from mnistbench.request import labels_config

    config = labels_config({"k": 20, "select": Selection.kmeans, "seed": None}, ["epochs=3"])
    assert (config.k, config.select, config.epochs, config.seed) == (20, "kmeans", 3, 0)
    with pytest.raises(ConfigError, match="--set width: not a field of the labels config"):
        labels_config({}, ["width=3"])


def test_an_average_of_the_weights_must_outgrow_the_untrained_ones():
    """Keras starts the average at the initial weights; a run must leave at most 1 % of them in it. The
    `record` recipe (0.999 over 12 epochs of 430 steps) leaves 0.6 %; a quick run of it is refused."""
    from mnistbench.config import TrainConfig
    from mnistbench.models import get_spec

    record = get_spec("record").recipe
    assert record.ema == 0.999
    TrainConfig(benchmark="accuracy", model="record", recipe=record).validate()
    with pytest.raises(ConfigError, match=r"after this run's 48 steps they would still be 95% of the average"):
        TrainConfig(benchmark="accuracy", model="record", recipe=record, train_size=512).validate()
