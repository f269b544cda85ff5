"""The one home of Pareto domination, hypervolume and its subset selection (tnas_plugin.pareto), checked by hand."""
import pytest

from tnas_plugin.pareto import dominates, hypervolume, hypervolume_subset, non_dominated


def test_non_dominated_keeps_duplicates_and_drops_the_dominated():
    points = [(1, 3), (2, 2), (1, 3), (2, 3), (3, 1)]
    assert non_dominated(points) == [0, 1, 2, 4]
    assert dominates((1, 1), (1, 2)) and not dominates((1, 2), (1, 2)) and non_dominated([]) == []


def test_hypervolume_by_hand_and_points_beyond_the_reference_count_nothing():
    assert hypervolume([(1, 3), (2, 2), (3, 1)], (4, 4)) == pytest.approx(3 + 2 + 1)
    assert hypervolume([(1, 3), (2, 2), (3, 1), (2, 3), (5, 0)], (4, 4)) == pytest.approx(6)
    assert hypervolume([(4, 1)], (4, 4)) == 0.0 and hypervolume([], (1, 1)) == 0.0
    assert hypervolume([(0, 0, 0)], (1, 2, 3)) == pytest.approx(6)


def test_hypervolume_subset_drops_the_least_contribution_on_any_scale():
    front = [(0, 10), (4, 6), (5, 5), (6, 4), (10, 0)]
    # scaled to [0, 1], reference 1.1: (5, 5) adds 0.1 x 0.1 alone, (4, 6) 0.1 x 0.5, the ends 0.4 x 0.1
    assert hypervolume_subset(front, 4) == [0, 1, 3, 4]
    assert hypervolume_subset(front, 3) == [0, 1, 3]  # then the ends tie at 0.04 below 0.2 x 0.5: the later goes
    assert hypervolume_subset([(a * 1000, b) for a, b in front], 3) == [0, 1, 3]  # each objective scaled
    assert hypervolume_subset([(1, 2), (2, 1), (1, 2), (2, 1)], 2) == [0, 1]  # ties drop the later point
    assert hypervolume_subset([(3,), (3,), (3,)], 2) == [0, 1] and hypervolume_subset(front, 9) == [0, 1, 2, 3, 4]
    three = [(0, 0, 1), (0, 1, 0), (1, 0, 0), (0.5, 0.5, 0.01), (0.34, 0.33, 0.33)]
    assert len(hypervolume_subset(three, 4)) == 4 and hypervolume_subset(three, 0) == []


def test_report_hypervolume_maximises_uar_and_minimises_cost():
    from tnas_plugin.jobs.report import hypervolume_2d

    # UAR above 0.2 and cost below 10: slabs (4 - 1) x (0.5 - 0.2), then (10 - 4) x (0.6 - 0.2)
    assert hypervolume_2d([0.5, 0.6, 0.1, 0.4], [1, 4, 2, 20], (0.2, 10)) == pytest.approx(3 * 0.3 + 6 * 0.4)
