"""The small-net step breakdown: every part of `shared` is timed and counted as often as the net applies it."""

from benchmarks.small_nets import PARTS, parts
from mnistbench.models import create_model


def test_parts_cover_the_net_and_count_each_application():
    result = parts(batch=4, steps=1, repeat=1)
    assert [r["part"] for r in result["rows"]] == list(PARTS)
    counts = {r["part"]: r["times_applied"] for r in result["rows"]}
    # The reused separable conv runs three times; the four blocks at 11x11 each have a ReLU,
    # a SampleNorm and a dropout.
    assert counts["separable conv, same (11x11x26)"] == 3
    assert counts["SampleNorm (11x11x26)"] == 4
    assert all(r["cpu_ms"] >= 0 and r["wall_ms"] >= 0 for r in result["rows"])
    assert result["whole_net_ms"][0] > 0


def test_part_counts_match_the_layers_of_shared():
    model = create_model("shared")
    applied = {type(layer).__name__: len(layer._inbound_nodes) for layer in model.layers}
    sample_norms = sum(len(layer._inbound_nodes) for layer in model.layers if type(layer).__name__ == "SampleNorm")
    dropouts = sum(len(layer._inbound_nodes) for layer in model.layers if type(layer).__name__ == "Dropout")
    # The dense block's norm and dropout (on 16 values) are left out of the parts: six and six in the net.
    assert sample_norms == 1 + 4 + 1 and dropouts == 1 + 4 + 1
    reused = max(len(layer._inbound_nodes) for layer in model.layers if type(layer).__name__ == "SeparableConv2D")
    assert reused == sum(c for name, (_, _, c) in PARTS.items() if name.startswith("separable conv, same"))
    assert applied["Conv2D"] == 1
