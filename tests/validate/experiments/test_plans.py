"""The experiment plans: the seed's configurations and theory, profiles, case parsing."""

import pytest

from validate.experiments import plans


def test_seed_plan_is_the_seeds_experiment():
    chosen = plans.preset("default")
    plan = plans.seed_plan(chosen, devices=["cpu"])
    # six layer types x four filter counts x two modes (graph and the seed's predict)
    assert len(plan) == 6 * 4 * 2
    assert len({config.key for config in plan}) == len(plan)
    layer = plan[0].unit
    assert (layer.height, layer.width, layer.batch, layer.padding, layer.bias) == (32, 32, 32, "same", False)
    assert plan[0].repeats == 16


# "theory vs 3x3" row of the seed's published table (tables.SEED_PUBLISHED_2017), at 64 filters.
@pytest.mark.parametrize(
    "layer_type, expected",
    [
        ("conv1x1", 0.111),
        ("conv3x1", 0.333),
        ("conv1x3", 0.333),
        ("conv3x3sep", 0.016),
        ("conv3x3", 1.0),
        ("conv5x5", 2.778),
    ],
)
def test_seed_theory_matches_the_published_mac_ratios(layer_type, expected):
    config = plans.SeedConfig("cpu", "graph", layer_type, 64)
    assert config.theory()["macs_ratio_vs_conv3x3"] == pytest.approx(expected, abs=5e-4)


def test_seed_depthwise_is_depthwise_alone():
    assert plans.seed_layer("conv3x3sep", 16).describe() == "3x3 depthwise 16->16"


def test_factorization_plan_predicts_the_mac_ratio():
    chosen = plans.preset("quick")
    plan = plans.factorization_plan(chosen, devices=["cpu"])
    by_case = {config.case.name: config for config in plan}
    assert by_case["5x5 stack"].predicted_ratio() == pytest.approx(18 / 25)  # Szegedy §3.1
    assert by_case["3x3 asymmetric"].predicted_ratio() == pytest.approx(2 / 3)  # Szegedy §3.2
    assert by_case["3x3 depthwise-separable"].predicted_ratio() == pytest.approx(1 / 32 + 1 / 9)


def test_default_profile_covers_every_required_factorization():
    names = {case.name for case in plans.preset("default").cases}
    assert names == {
        "5x5 stack",
        "7x7 stack",
        "3x3 stack,m=2",
        "3x3 asymmetric",
        "7x7 asymmetric",
        "3x3 depthwise-separable",
        "5x5 depthwise-separable",
        "7x7 depthwise-separable",
    }


def test_profile_overrides_and_unknown_profile():
    assert plans.preset("quick", channels=(8, 64)).channels == (8, 64)
    with pytest.raises(ValueError, match="unknown preset 'huge'; known: quick, default, full"):
        plans.preset("huge")


@pytest.mark.parametrize(
    "text, message",
    [
        ("5x5", "KERNEL:SCHEME"),
        ("1x7:stack", "square kernels"),
        ("5:nope", "unknown scheme 'nope'"),
        ("3:stack:m", "name=integer"),
        ("4:stack", "nearest kernel sizes that work: 3 and 5"),
        ("5:stack:widht=3", "option 'widht' is not one of"),
    ],
)
def test_bad_cases(text, message):
    with pytest.raises(ValueError, match=message):
        plans.case_from_text(text)


def test_timed_seconds_counts_every_call_of_every_sample():
    from validate.experiments.runner import Outcome, timed_seconds
    from validate.results.schema import FACTORIZATIONS, NETWORKS, SEED

    outcome = Outcome(
        {"original_calls_per_sample": 4, "factorized_calls_per_sample": 2},
        [
            {"role": "original", "seconds": 0.5},
            {"role": "original", "seconds": 0.5},
            {"role": "factorized", "seconds": 1.0},
        ],
    )
    assert timed_seconds(outcome, FACTORIZATIONS) == 0.5 * 4 * 2 + 1.0 * 2
    assert timed_seconds(Outcome({"calls_per_sample": 3}, [{"role": "network", "seconds": 2.0}]), SEED) == 6.0
    rewritten = Outcome({"rewritten_calls_per_sample": 5}, [{"role": "rewritten", "seconds": 1.0}])
    assert timed_seconds(rewritten, NETWORKS) == 5.0  # each table's own roles and prefixes


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_are_disjoint_and_together_the_whole_plan(count):
    whole = plans.factorization_plan(plans.preset("default"), ["cpu"]) + plans.seed_plan(
        plans.preset("default"), ["cpu"]
    )
    parts = [plans.shard(whole, index, count) for index in range(1, count + 1)]
    keys = [config.key for part in parts for config in part]
    assert sorted(keys) == sorted(config.key for config in whole) and len(set(keys)) == len(keys)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
