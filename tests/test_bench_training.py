"""The pure helpers of benchmarks/bench_training.py and bench_ann_rank.py on small hand-made learning curves:
the equal-wall-time lookup, the time to 90 %, collapse detection, the per-path table and the rank correlation."""
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_ann_rank  # noqa: E402
import bench_training  # noqa: E402

CHANCE = 1 / 7


def curve(path: str, points: list[tuple[int, float, float]], candidate: int = 0, seed: int = 0) -> pd.DataFrame:
    """One run's curve from (epoch, train_s, uar) points."""
    return pd.DataFrame([{"candidate": candidate, "arch": f"net{candidate}", "seed": seed, "path": path, "epoch": epoch,
                          "stage": path, "stopped": False, "train_s": seconds, "eval_s": 0.5, "war": uar, "uar": uar}
                         for epoch, seconds, uar in points])


def three_paths(candidate: int = 0, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """ANN-assisted: 0.50 after 10 s; direct: slower, 0.40 at 10 s and 0.46 at 20 s; LIF: collapsed."""
    return pd.concat([
        curve("ann", [(2, 4.0, 0.30 + shift), (4, 10.0, 0.50 + shift)], candidate, seed),
        curve("direct", [(2, 6.0, 0.30), (3, 9.0, 0.40), (4, 20.0, 0.46)], candidate, seed),
        curve("lif", [(2, 11.0, CHANCE), (4, 22.0, CHANCE)], candidate, seed),
    ], ignore_index=True)


def test_value_at_takes_the_last_point_within_the_time_and_none_before_the_first():
    run = curve("direct", [(2, 6.0, 0.30), (3, 9.0, 0.40), (4, 20.0, 0.46)])
    assert bench_training.value_at(run, 10.0)["uar"] == 0.40
    assert bench_training.value_at(run, 9.0)["epoch"] == 3  # a point exactly at the budget counts
    assert bench_training.value_at(run, 100.0)["uar"] == 0.46  # a run that ended early keeps its final value
    assert bench_training.value_at(run, 5.9) is None


def test_time_to_reach_is_the_first_point_at_or_above_the_target():
    run = curve("direct", [(2, 6.0, 0.30), (3, 9.0, 0.45), (4, 20.0, 0.40), (5, 25.0, 0.50)])
    assert bench_training.time_to_reach(run, 0.45) == 9.0
    assert bench_training.time_to_reach(run, 0.50) == 25.0
    assert bench_training.time_to_reach(run, 0.51) == math.inf


def test_collapsed_is_uar_exactly_chance():
    assert bench_training.collapsed([CHANCE, 1 / 7 + 1e-12, 0.15, 0.5]).tolist() == [True, True, False, False]


def test_budget_table_compares_at_equal_epochs_and_at_the_ann_assisted_wall_time():
    table = bench_training.budget_table(three_paths(), epochs=4).set_index("path")
    assert table.loc["ann", "uar_epochs"] == 0.50 and table.loc["ann", "uar_time"] == 0.50
    assert table.loc["direct", "uar_epochs"] == 0.46
    assert table.loc["direct", "uar_time"] == 0.40 and table.loc["direct", "epochs_at_time"] == 3
    # 90 % of the ANN-assisted path's final 0.50 is 0.45: direct reaches it at 20 s, LIF never
    assert table.loc["ann", "t90_s"] == 10.0 and table.loc["direct", "t90_s"] == 20.0
    assert table.loc["lif", "t90_s"] == math.inf
    # LIF has no point within 10 s: counted at chance but not as collapsed there; collapsed at equal epochs
    assert table.loc["lif", "uar_time"] == CHANCE and not table.loc["lif", "collapsed_time"]
    assert table.loc["lif", "collapsed_epochs"] and not table.loc["direct", "collapsed_epochs"]


def test_a_run_stopped_at_the_time_budget_has_no_equal_epoch_value():
    curves = three_paths()
    stopped = curves[(curves["path"] != "lif") | (curves["epoch"] == 2)]  # the LIF run stopped after 2 of 4 epochs
    table = bench_training.budget_table(stopped, epochs=4).set_index("path")
    assert math.isnan(table.loc["lif", "uar_epochs"]) and math.isnan(table.loc["lif", "collapsed_epochs"])
    assert table.loc["ann", "collapsed_epochs"] == 0.0
    summary = bench_training.path_summary(table.reset_index())
    assert summary.loc["lif", "runs"] == 1 and summary.loc["lif", "runs_epochs"] == 0


def test_path_summary_reports_the_spread_across_seeds_per_candidate():
    curves = pd.concat([three_paths(candidate, seed, shift) for candidate in (0, 1)
                        for seed, shift in ((0, 0.0), (1, 0.1))], ignore_index=True)
    summary = bench_training.path_summary(bench_training.budget_table(curves, epochs=4))
    assert list(summary.index) == ["ann", "direct", "lif"]
    assert summary.loc["ann", "seed_std_epochs"] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert summary.loc["direct", "seed_std_epochs"] == 0.0
    one_seed = bench_training.budget_table(curves.drop(curves[(curves["path"] == "lif") & (curves["seed"] == 1)].index), 4)
    assert math.isnan(bench_training.path_summary(one_seed).loc["lif", "seed_std_epochs"])  # a seed missing: no spread
    assert summary.loc["lif", "collapsed_epochs"] == 1.0 and summary.loc["ann", "collapsed_epochs"] == 0.0
    assert summary.loc["ann", "learns_3x_chance"] and not summary.loc["lif", "learns_3x_chance"]
    assert summary.loc["ann", "runs"] == 4


def test_curve_band_leaves_out_runs_without_a_point_yet_and_stopped_runs_after_their_end():
    stopped = curve("lif", [(1, 2.0, 0.2), (2, 4.0, 0.4)], seed=0).assign(stopped=True)
    curves = pd.concat([curve("ann", [(1, 2.0, 0.2), (2, 4.0, 0.4)], seed=0),
                        curve("ann", [(1, 3.0, 0.3), (2, 6.0, 0.5)], seed=1), stopped], ignore_index=True)
    band = bench_training.curve_band(curves, "train_s", np.array([1.0, 2.5, 5.0, 7.0])).set_index(["path", "train_s"])
    assert ("ann", 1.0) not in band.index
    assert band.loc[("ann", 2.5), "runs"] == 1 and band.loc[("ann", 2.5), "median"] == 0.2
    assert band.loc[("ann", 5.0), "median"] == pytest.approx(0.35)
    assert band.loc[("ann", 7.0), "median"] == pytest.approx(0.45)  # ended runs keep their final value
    assert band.loc[("lif", 2.5), "median"] == 0.2 and ("lif", 5.0) not in band.index


def test_curves_frame_times_each_run_against_its_ann_assisted_run():
    run = bench_training.Run
    runs = [run(0, "net0", 0, "ann", [{"epoch": 2, "train_s": 10.0, "uar": 0.4}], 12.0),
            run(0, "net0", 0, "lif", [{"epoch": 1, "train_s": 5.0, "uar": 0.2}, {"epoch": 2, "train_s": 11.0, "uar": 0.3}],
                13.0, budget_s=10.0)]
    frame = bench_training.curves_frame(runs)
    assert frame["rel_s"].tolist() == [1.0, 0.5, 1.1]
    assert frame["stopped"].tolist() == [False, True, True]


def ann_curve(candidate: int, twin_uar: float, ttfs_uar: float) -> pd.DataFrame:
    points = [{"epoch": 3, "stage": "ann", "train_s": 5.0, "eval_s": 0.4, "twin_uar": 0.1, "twin_eval_s": 0.2, "uar": 0.1},
              {"epoch": 4, "stage": "ann", "train_s": 8.0, "eval_s": 0.4, "twin_uar": twin_uar, "twin_eval_s": 0.2,
               "uar": 0.2},
              {"epoch": 5, "stage": "finetune", "train_s": 10.0, "eval_s": 0.5, "uar": ttfs_uar}]
    return pd.DataFrame([{"candidate": candidate, "arch": f"net{candidate}", "seed": 0, "path": "ann", **point}
                         for point in points])


def test_twin_table_reads_the_twin_at_its_last_epoch_and_the_ttfs_network_at_the_end():
    table = bench_training.twin_table(ann_curve(0, 0.55, 0.50)).iloc[0]
    assert table["twin_uar"] == 0.55 and table["ttfs_uar"] == 0.50
    assert table["twin_s"] == pytest.approx(8.2) and table["ttfs_s"] == pytest.approx(10.5)


@pytest.mark.parametrize("ttfs, good", [((0.2, 0.3, 0.4, 0.5), True), ((0.5, 0.4, 0.3, 0.2), False)])
def test_rank_correlation_and_its_verdict(ttfs, good):
    curves = pd.concat([ann_curve(c, twin, uar) for c, (twin, uar) in enumerate(zip((0.2, 0.3, 0.4, 0.5), ttfs))])
    result = bench_ann_rank.rank_correlation(bench_training.twin_table(curves))
    assert result.n == 4 and result.rho == pytest.approx(1.0 if good else -1.0)
    assert ("would pay" in bench_ann_rank.verdict(result)) == good
    assert ("kept" in bench_ann_rank.verdict(result)) != good
