"""Shared fixtures (a tiny synthetic SEE tree, written once per test session) and the test order."""
import pytest

from tnas_plugin.data import SynthConfig, synthesize

# The tests that take longest (each over 3 s on 2 cores; `--durations`), longest first. `make test`'s pytest-xdist
# workers (``--dist worksteal``) each start with a contiguous share of the suite and then steal from each other's
# tail; dealing these tests in turn to the heads of the shares lets the workers finish together: longest
# processing time first (Graham 1969).
LONGEST_FIRST = (
    "test_search_job_signals.py::test_sigterm_at_every_moment_and_resume_to_the_end",
    "test_tuner_nnictl.py::test_same_seed_same_search_through_nnictl_whatever_the_timing_and_across_stop_and_resume",
    "test_remote_training_service.py::test_nnictl_search_runs_its_trials_on_the_remote_worker",
    "test_strategy_nni.py::test_nas_experiment_reaches_done_and_exports_the_pareto_front",
    "test_search_job_contention.py::test_a_tuner_that_does_not_connect_in_time_fails_in_one_line_and_leaves_nothing",
    "test_search_job_signals.py::test_stop_during_a_trial_on_a_warm_worker[SIGINT]",
    "test_evaluator_nas.py::test_nas_experiment_with_nni_random_reports_war_and_uar",
    "test_remote_training_service.py::test_nas_experiment_runs_on_the_remote_worker",
    "test_baselines.py::test_seen_style_lif_learns_on_synthetic_see",
    "test_search_job_signals.py::test_stop_while_nni_starts",
    "test_search_job_inputs.py::test_read_only_data_trains_with_the_cache_in_the_user_cache_folder",
)


def pytest_collection_modifyitems(config, items):
    workers = getattr(config, "workerinput", {}).get("workercount", 1)  # set in each pytest-xdist worker
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    named = [(item.nodeid.rpartition("/")[2], item) for item in items]  # "file::test", as LONGEST_FIRST names it
    longest = [item for name, item in sorted((pair for pair in named if pair[0] in rank), key=lambda pair: rank[pair[0]])]
    rest = [item for name, item in named if name not in rank]
    order = []
    for worker in range(workers):  # worksteal gives the k-th worker len(items) // (workers - k) of what is left
        size = (len(items) - len(order)) // (workers - worker)
        head = longest[worker::workers]
        order += head + rest[:size - len(head)]
        rest = rest[max(size - len(head), 0):]
    items[:] = order + rest


@pytest.fixture(scope="session")
def tiny_see(tmp_path_factory):
    """8 subjects of 16x16 synthetic eye sequences in the SEE layout, two takes of each emotion per subject."""
    root = tmp_path_factory.mktemp("see") / "synthetic-see"
    synthesize(root, SynthConfig(subjects=8, size=(16, 16), sequences_per_subject=14, frames=(12, 16)))
    return root
