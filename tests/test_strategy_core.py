"""The NSGA-II core (no NNI, no training): ranking, the known-front benchmark problem, budgets, failures,
de-duplication, seeding and exact resume from a JSON state."""
import itertools
import json
import math
import random

import pytest

from tnas_plugin.strategies.evolution_core import (
    EvolutionOptions,
    AwaitingResults,
    ParetoEvolution,
    SearchExhausted,
    crowding_distance,
)
from tnas_plugin.pareto import constrained_dominates, non_dominated_sort

LABELS = 8
SPACE = {f"x{i}": {"_type": "choice", "_value": [0, 1, 2, 3, 4]} for i in range(LABELS)}  # 5**8 = 390,625


def two_objective(params):
    """WAR/UAR trade-off along x0, both penalised by the distance of x1..x7 from 2.

    The Pareto front is exactly the 5 candidates with x1..x7 == 2 (any x0): for a fixed x0 both objectives
    fall with the distance, and along x0 one objective rises as the other falls.
    """
    share = params["x0"] / 4
    distance = sum(abs(params[f"x{i}"] - 2) for i in range(1, LABELS)) / (2 * (LABELS - 1))
    return {"default": 0.5 - distance, "war": share - distance, "uar": 1 - share - distance, "cost": params["x0"]}


KNOWN_FRONT = [{"x0": k, **{f"x{i}": 2 for i in range(1, LABELS)}} for k in range(5)]


def run(core, objective, trials):
    asked = []
    for _ in range(trials):
        params = core.ask()
        asked.append(params)
        core.tell(params, objective(params))
    return asked


def front_params(core):
    return sorted((entry["params"] for entry in core.pareto_front()), key=lambda p: p["x0"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_the_known_front_within_500_of_390625_candidates(seed):
    core = ParetoEvolution(SPACE, EvolutionOptions(seed=seed))
    run(core, two_objective, 500)  # 25 generations of 20
    assert front_params(core) == KNOWN_FRONT
    assert all(set(entry["metrics"]) >= {"war", "uar", "default"} for entry in core.pareto_front())


@pytest.mark.parametrize("proposals", ["model", "nsga2"])
def test_budget_makes_over_budget_candidates_constraint_dominated(proposals):
    core = ParetoEvolution(SPACE, EvolutionOptions(seed=0, budgets={"cost": 3}, proposals=proposals))
    run(core, two_objective, 400)
    if proposals == "nsga2":  # the exact front of this discrete problem (see the two-sided constraint test)
        assert front_params(core) == KNOWN_FRONT[:4]  # x0 = 4 costs 4 > 3
    assert front_params(core) and all(params["x0"] <= 3 for params in front_params(core))


def test_a_minimised_objective():
    core = ParetoEvolution(SPACE, EvolutionOptions(seed=0, objectives={"war": "max", "cost": "min"}))
    run(core, two_objective, 400)
    assert front_params(core) == KNOWN_FRONT  # war rises with x0 and so does the cost


def test_failed_trials_are_recorded_never_reproposed_and_do_not_stop_the_search():
    def flaky(params):
        return None if params["x1"] == 0 else two_objective(params)

    core = ParetoEvolution(SPACE, EvolutionOptions(seed=3))
    asked = run(core, flaky, 400)
    assert len({json.dumps(p, sort_keys=True) for p in asked}) == len(asked)
    failed = [entry for entry in core.history() if entry["metrics"] is None]
    assert failed and all(entry["params"]["x1"] == 0 for entry in failed)
    assert front_params(core) == KNOWN_FRONT


def test_results_lacking_an_objective_count_as_failed():
    core = ParetoEvolution(SPACE, EvolutionOptions(seed=0))
    for metrics in ({"war": 0.5}, {"war": 0.5, "uar": math.nan}, "oops"):
        core.tell(core.ask(), metrics)
    core.tell(core.ask(), 0.7)  # a bare number is {"default": 0.7}: no war/uar either
    assert [entry["metrics"] for entry in core.history()] == [None] * 4
    assert core.pareto_front() == []


def test_a_late_result_replaces_a_failure_and_a_second_result_is_ignored():
    core = ParetoEvolution(SPACE, EvolutionOptions(seed=0))
    params = core.ask()
    core.tell(params, None)
    core.tell(params, {"war": 0.4, "uar": 0.3})
    core.tell(params, {"war": 0.9, "uar": 0.9})
    assert core.history() == [{"params": params, "metrics": {"war": 0.4, "uar": 0.3}}]


def test_small_space_is_exhausted_without_duplicates_also_with_parallel_asks():
    space = {"a": {"_type": "choice", "_value": ["x", "y"]}, "b": {"_type": "choice", "_value": [1, 2, 3]}}
    core = ParetoEvolution(space, EvolutionOptions(seed=0, population_size=2))
    outstanding = [core.ask() for _ in range(2)]  # generation 0: two trials running at once
    with pytest.raises(AwaitingResults):  # generation 1 is bred from their results
        core.ask()
    for params in outstanding:
        core.tell(params, {"war": random.random(), "uar": random.random()})
    rest = run(core, lambda p: {"war": random.random(), "uar": random.random()}, 4)
    assert len({json.dumps(p, sort_keys=True) for p in outstanding + rest}) == 6
    with pytest.raises(SearchExhausted):
        core.ask()


def test_same_seed_same_search_and_initial_population_comes_first():
    seeded = [{"x0": 4, **{f"x{i}": 0 for i in range(1, LABELS)}}]
    first = run(ParetoEvolution(SPACE, EvolutionOptions(seed=5, initial_population=seeded)), two_objective, 60)
    second = run(ParetoEvolution(SPACE, EvolutionOptions(seed=5, initial_population=seeded)), two_objective, 60)
    other = run(ParetoEvolution(SPACE, EvolutionOptions(seed=6, initial_population=seeded)), two_objective, 60)
    assert first == second != other
    assert first[0] == seeded[0]


def test_state_round_trip_through_json_continues_the_same_search():
    options = EvolutionOptions(seed=11, population_size=8)
    uninterrupted = ParetoEvolution(SPACE, options)
    head = run(uninterrupted, two_objective, 30)
    running = uninterrupted.ask()  # a trial still running at save time
    state = json.loads(json.dumps(uninterrupted.state_dict()))
    uninterrupted.tell(running, two_objective(running))
    tail = run(uninterrupted, two_objective, 40)

    resumed = ParetoEvolution(SPACE, options)
    resumed.load_state_dict(state)
    assert resumed.pending == [running]
    resumed.tell(running, two_objective(running))
    assert run(resumed, two_objective, 40) == tail
    assert resumed.state_dict() == uninterrupted.state_dict()
    assert len(head) == 30


def test_state_of_another_space_is_refused():
    core = ParetoEvolution(SPACE)
    other = ParetoEvolution({"x0": {"_type": "choice", "_value": [0, 1]}})
    with pytest.raises(ValueError, match="different search space"):
        other.load_state_dict(core.state_dict())


def brute_force_fronts(points):
    remaining, fronts = set(range(len(points))), []
    while remaining:
        front = sorted(i for i in remaining if not any(constrained_dominates(points[j], points[i]) for j in remaining))
        fronts.append(front)
        remaining -= set(front)
    return fronts


def test_non_dominated_sort_matches_the_definition():
    rng = random.Random(0)
    for _ in range(30):
        points = [
            ((rng.randint(0, 4), rng.randint(0, 4), rng.randint(0, 2)), rng.choice([0.0, 0.0, 0.5, 1.0]))
            for _ in range(rng.randint(1, 25))
        ]
        assert [sorted(f) for f in non_dominated_sort(points)] == brute_force_fronts(points)


def test_constrained_domination_and_crowding():
    assert constrained_dominates(((5, 5), 0.0), ((0, 0), 0.1))  # feasible beats infeasible
    assert constrained_dominates(((5, 5), 0.1), ((0, 0), 0.2))  # less violation wins
    assert not constrained_dominates(((0, 1), 0.0), ((1, 0), 0.0))
    assert crowding_distance([(0, 4), (1, 2), (2, 1), (4, 0)]) == [math.inf, 1.25, 1.25, math.inf]


@pytest.mark.parametrize("log_scale, dropped", [([], 2), (["energy"], 1)])
def test_a_log_scaled_cost_keeps_the_cheap_end_of_the_front(log_scale, dropped):
    """Four non-dominated results, room for three: on the raw energy axis the cheap network at 3 looks crowded
    next to the one at 1 and is dropped; measured in halvings of the energy, the one at 60 is the crowded one."""
    results = [(0.9, 100.0), (0.8, 60.0), (0.5, 3.0), (0.4, 1.0)]
    core = ParetoEvolution(SPACE, EvolutionOptions(seed=0, population_size=3, log_scale=log_scale,
                                                   objectives={"uar": "max", "energy": "min"}))
    for number, (uar, energy) in enumerate(results):
        core.tell({f"x{i}": number if i == 0 else 0 for i in range(LABELS)}, {"uar": uar, "energy": energy})
    core.ask()  # imported results join the survivors when the next generation is bred
    assert sorted(core.state_dict()["population"]) == [i for i in range(4) if i != dropped]
    assert len(core.pareto_front()) == 4  # the front itself does not depend on the scale


@pytest.mark.parametrize(
    "space, message",
    [
        ({}, "non-empty"),
        ({"lr": {"_type": "gaussian", "_value": [0, 1]}}, "'gaussian'.*unknown type"),
        ({"lr": {"_type": "uniform", "_value": [1, 0]}}, "low < high"),
        ({"lr": {"_type": "loguniform", "_value": [0, 1]}}, "low > 0"),
        ({"lr": {"_type": "qnormal", "_value": [0, 1]}}, "needs 3 finite numbers"),
        ({"n": {"_type": "randint", "_value": [1.5, 4]}}, "integers"),
        ({"s": {"_type": "normal", "_value": [0, 0]}}, "sigma > 0"),
        ({"a": {"_type": "choice", "_value": [{"_name": "x"}, {"_name": "y"}]}}, "nested"),
        ({"a": {"_type": "choice", "_value": []}}, "non-empty '_value'"),
    ],
)
def test_bad_spaces_are_refused(space, message):
    with pytest.raises(ValueError, match=message):
        ParetoEvolution(space)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"objectives": {}}, "objectives"),
        ({"objectives": {"war": "maximise"}}, "'max' or 'min'"),
        ({"budgets": {"synops": -1}}, "budget 'synops'"),
        ({"population_size": 1}, "population_size"),
        ({"mutation_prob": 1.5}, "mutation_prob"),
        ({"crossover_prob": -0.1}, "crossover_prob"),
        ({"dedup_retries": 0}, "dedup_retries"),
        ({"seed": "abc"}, "seed"),
        ({"initial_population": {"x0": 1}}, "initial_population"),
        ({"log_scale": ["energy"]}, "log_scale must be a list of objective keys"),
        ({"log_scale": "war"}, "log_scale"),
        ({"log_scale": 5}, "log_scale"),
    ],
)
def test_bad_options_are_refused_at_construction(options, message):
    with pytest.raises(ValueError, match=message):
        EvolutionOptions(**options)


def test_initial_population_outside_the_space_is_refused():
    with pytest.raises(ValueError, match="not a choice of 'x1'"):
        ParetoEvolution(SPACE, EvolutionOptions(initial_population=[{f"x{i}": 9 if i else 0 for i in range(LABELS)}]))


def test_enumerated_front_is_the_known_front():
    """The test problem's front, by enumeration over a 4-label version of the space."""
    labels = 4
    all_params = [dict(zip([f"x{i}" for i in range(labels)], combo)) for combo in itertools.product(range(5), repeat=labels)]

    def objective(p):
        share, distance = p["x0"] / 4, sum(abs(p[f"x{i}"] - 2) for i in range(1, labels))
        return (-(share - distance), -(1 - share - distance))

    front = non_dominated_sort([(objective(p), 0.0) for p in all_params])[0]
    assert sorted(all_params[i]["x0"] for i in front) == [0, 1, 2, 3, 4]
    assert all(all_params[i][f"x{j}"] == 2 for i in front for j in range(1, labels))


# ----------------------------------------------------------------------------------------------------
# Numeric genes, constraints, state versions, orphaned candidates

MIXED = {
    "kind": {"_type": "choice", "_value": ["a", "b", "c"]},
    "n": {"_type": "randint", "_value": [3, 9]},
    "rate": {"_type": "uniform", "_value": [-1.0, 1.0]},
    "step": {"_type": "quniform", "_value": [0.1, 1.0, 0.25]},
    "lr": {"_type": "loguniform", "_value": [1e-5, 1e-1]},
    "qlr": {"_type": "qloguniform", "_value": [1.0, 1000.0, 10.0]},
    "z": {"_type": "normal", "_value": [5.0, 2.0]},
    "qz": {"_type": "qnormal", "_value": [0.0, 3.0, 0.5]},
    "ln": {"_type": "lognormal", "_value": [0.0, 1.0]},
    "qln": {"_type": "qlognormal", "_value": [0.0, 1.0, 2.0]},
}


def assert_in_mixed_space(p):
    assert p["kind"] in ("a", "b", "c")
    assert type(p["n"]) is int and 3 <= p["n"] < 9
    assert -1 <= p["rate"] <= 1
    assert p["step"] in (0.1, 0.25, 0.5, 0.75, 1.0)  # clip(round(x / 0.25) * 0.25, 0.1, 1.0), as NNI
    assert 1e-5 <= p["lr"] <= 1e-1
    assert 1 <= p["qlr"] <= 1000 and (p["qlr"] == 1.0 or p["qlr"] == round(p["qlr"] / 10) * 10)
    assert math.isfinite(p["z"]) and p["qz"] == round(p["qz"] / 0.5) * 0.5
    assert p["ln"] > 0 and p["qln"] >= 0 and p["qln"] % 2 == 0
    assert all(type(v) is float for k, v in p.items() if k not in ("kind", "n"))


def mixed_objective(p):
    return {"war": p["rate"] - abs(p["z"] - 5) / 10 - abs(math.log10(p["lr"]) + 3) / 10,
            "uar": -p["rate"] + p["n"] / 10 - abs(p["qz"]) / 10, "cost": p["qlr"]}


def test_mixed_space_is_sampled_and_varied_within_nni_definitions():
    core = ParetoEvolution(MIXED, EvolutionOptions(seed=0, population_size=10))
    asked = run(core, mixed_objective, 300)
    for p in asked:
        assert_in_mixed_space(p)
    assert len({json.dumps(p, sort_keys=True) for p in asked}) == 300
    # the random start follows NNI's distributions: normal around mu, log-uniform spread over decades
    start = asked[:10] + run(ParetoEvolution(MIXED, EvolutionOptions(seed=1, population_size=200)), mixed_objective, 190)
    assert 4 < sum(p["z"] for p in start) / len(start) < 6
    assert 0.3 < sum(p["lr"] < 1e-3 for p in start) / len(start) < 0.7
    assert {p["kind"] for p in start} == {"a", "b", "c"} and {p["n"] for p in start} == set(range(3, 9))
    # evolution moves numeric genes towards the optimum of the first objective's penalties
    late = asked[-100:]
    assert sum(abs(p["z"] - 5) for p in late) < sum(abs(p["z"] - 5) for p in start[:100])


def test_quantised_duplicates_are_never_proposed():
    space = {"x": {"_type": "quniform", "_value": [0, 1, 0.25]}, "y": {"_type": "qloguniform", "_value": [1, 4, 1]}}
    core = ParetoEvolution(space, EvolutionOptions(seed=0, population_size=4))
    assert core.size == 5 * 4
    asked = run(core, lambda p: {"war": p["x"], "uar": -p["y"]}, 20)
    assert len({(p["x"], p["y"]) for p in asked}) == 20
    with pytest.raises(SearchExhausted):
        core.ask()


def test_unbounded_genes_are_not_truncated():  # by the variation operators, which both proposal modes use
    core = ParetoEvolution({"z": {"_type": "normal", "_value": [0, 1]}, "w": {"_type": "lognormal", "_value": [0, 1]}},
                           EvolutionOptions(seed=2, population_size=6, proposals="nsga2"))
    asked = run(core, lambda p: {"war": p["z"], "uar": p["w"]}, 200)  # both maximised: drift far beyond the prior
    assert max(p["z"] for p in asked) > 6 and max(p["w"] for p in asked) > math.exp(6)


def test_encoding_quantises_imports_and_refuses_values_outside():
    core = ParetoEvolution(MIXED)
    params = {**run(ParetoEvolution(MIXED, EvolutionOptions(seed=0)), mixed_objective, 1)[0]}
    assert core.decode(core.encode(params)) == params
    assert core.decode(core.encode({**params, "step": 0.6}))["step"] == 0.5
    for label, value in [("n", 9), ("n", 3.5), ("rate", 1.5), ("lr", 0.5), ("ln", -1.0), ("kind", "d"), ("z", math.inf)]:
        with pytest.raises(ValueError):
            core.encode({**params, label: value})


@pytest.mark.parametrize("proposals", ["model", "nsga2"])
def test_two_sided_constraints_keep_the_front_inside(proposals):
    core = ParetoEvolution(SPACE, EvolutionOptions(seed=0, constraints={"cost": [1, 3]}, proposals=proposals))
    run(core, two_objective, 400)
    one_sided = ParetoEvolution(SPACE, EvolutionOptions(seed=0, constraints={"cost": [None, 2]}, proposals=proposals))
    run(one_sided, two_objective, 400)
    if proposals == "nsga2":  # converges on this discrete problem's exact front (the model lands one gene off)
        assert front_params(core) == KNOWN_FRONT[1:4] and front_params(one_sided) == KNOWN_FRONT[:3]
    assert {params["x0"] for params in front_params(core)} == {1, 2, 3}
    assert {params["x0"] for params in front_params(one_sided)} == {0, 1, 2}
    assert constrained_dominates(((9, 9), 0.0), ((0, 0), 0.5))


@pytest.mark.parametrize("constraints", [{"c": [2, 1]}, {"c": [None, None]}, {"c": 3}, {"c": [0, math.inf]}, {"c": [0]}])
def test_bad_constraints_are_refused(constraints):
    with pytest.raises(ValueError, match="constraint 'c'"):
        EvolutionOptions(constraints=constraints)


def test_orphaned_candidates_are_requeued_first_and_then_bred_around():
    options = EvolutionOptions(seed=7, population_size=6)
    core = ParetoEvolution(SPACE, options)
    run(core, two_objective, 10)
    orphans = [core.ask(), core.ask()]
    state = json.loads(json.dumps(core.state_dict()))

    resumed = ParetoEvolution(SPACE, options)
    resumed.load_state_dict(state)
    assert resumed.pending == orphans and resumed.requeued == []
    assert resumed.requeue_pending() == orphans
    assert resumed.pending == [] and resumed.requeued == orphans
    saved = json.loads(json.dumps(resumed.state_dict()))  # the queue survives another save/load
    again = ParetoEvolution(SPACE, options)
    again.load_state_dict(saved)
    assert [again.ask(), again.ask()] == orphans
    # a result that arrives for a requeued candidate takes it out of the queue
    resumed.tell(orphans[0], two_objective(orphans[0]))
    assert resumed.ask() == orphans[1]
    with pytest.raises(AwaitingResults):  # the orphans close generation 1
        resumed.ask()
    resumed.tell(orphans[1], two_objective(orphans[1]))
    assert resumed.ask() not in orphans


@pytest.mark.parametrize("version", [1, 2, 99])
def test_states_of_the_steady_state_search_are_refused_in_one_line(version):
    core = ParetoEvolution(SPACE, EvolutionOptions(seed=3, population_size=4))
    run(core, two_objective, 8)
    old = {**core.state_dict(), "version": version}
    with pytest.raises(ValueError, match=rf"^unsupported state version {version} \(expected 3[^\n]*start a new search\)$"):
        ParetoEvolution(SPACE, EvolutionOptions(seed=3, population_size=4)).load_state_dict(old)


def test_state_loads_when_numeric_bounds_change_spelling_only():
    """NNI's manager (Node) hands the tuner ``1`` for a ``1.0`` in the search-space file."""
    written = {"x": {"_type": "uniform", "_value": [0.5, 1.0]}, "k": {"_type": "choice", "_value": [1, 2]}}
    served = {"x": {"_type": "uniform", "_value": [0.5, 1]}, "k": {"_type": "choice", "_value": [1, 2]}}
    core = ParetoEvolution(served, EvolutionOptions(objectives={"y": "max"}, seed=0))
    core.tell(core.ask(), {"y": 1.0})
    again = ParetoEvolution(written, EvolutionOptions(objectives={"y": "max"}, seed=0))
    again.load_state_dict(json.loads(json.dumps(core.state_dict())))
    assert again.history() == core.history()


# ----------------------------------------------------------------------------------------------------
# Determinism: the same search whatever the order and timing of results, and across a stop and resume


def flaky_two_objective(params):
    """The test problem with a failure now and then (a failed trial is a result too)."""
    return None if params["x3"] == 4 else two_objective(params)


def parallel(core, trials, concurrency, order, stop_after=None):
    """Up to ``concurrency`` trials running, each result delivered at a moment drawn from ``order`` (a
    ``random.Random``); a slot stays idle while the next proposal awaits results. Stops once ``trials``
    results are in, or after ``stop_after`` results with the running trials left unanswered."""
    running, told = [], 0
    while len(core.history()) < trials:
        while len(core.history()) + len(running) < trials and len(running) < concurrency:
            try:
                running.append(core.ask())
            except AwaitingResults:
                assert running, "the core awaits results while none is pending"
                break
        if stop_after is not None and told == stop_after:
            return running
        params = running.pop(order.randrange(len(running)))
        core.tell(params, flaky_two_objective(params))
        told += 1
    return running


def test_same_seed_same_search_whatever_the_concurrency_and_the_order_of_results():
    options = EvolutionOptions(seed=5, population_size=8)
    sequential = ParetoEvolution(SPACE, options)
    parallel(sequential, 60, 1, random.Random(0))
    assert any(entry["metrics"] is None for entry in sequential.history())
    for concurrency, shuffle in [(2, 1), (3, 2), (8, 3), (8, 4)]:
        core = ParetoEvolution(SPACE, options)
        parallel(core, 60, concurrency, random.Random(shuffle))
        assert core.history() == sequential.history(), (concurrency, shuffle)
        assert core.pareto_front() == sequential.pareto_front()


@pytest.mark.parametrize("stop_after", [0, 3, 8, 9, 21, 37])
def test_a_search_stopped_at_any_moment_and_resumed_ends_as_an_uninterrupted_one(stop_after):
    options = EvolutionOptions(seed=11, population_size=8, initial_population=[{f"x{i}": 1 for i in range(LABELS)}])
    uninterrupted = ParetoEvolution(SPACE, options)
    parallel(uninterrupted, 40, 3, random.Random(0))
    stopped = ParetoEvolution(SPACE, options)
    parallel(stopped, 40, 3, random.Random(1), stop_after=stop_after)  # the running trials die with the process
    resumed = ParetoEvolution(SPACE, options)
    resumed.load_state_dict(json.loads(json.dumps(stopped.state_dict())))
    resumed.requeue_pending()
    parallel(resumed, 40, 3, random.Random(2))
    assert resumed.history() == uninterrupted.history()
