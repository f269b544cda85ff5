"""One nnictl trial of the scikit-learn example: a random forest on scikit-learn's bundled digits data.

Reports one metric dict: ``accuracy`` on a fixed held-out quarter of the data (to maximise), ``n_nodes``,
the forest's total number of tree nodes (its size, to minimise), ``fit_seconds`` and ``default``
(= accuracy, what NNI's web UI sorts by). No download: ``load_digits`` ships with scikit-learn.

``--fail-every N`` makes every N-th trial (NNI's sequence number 1, N + 1, 2N + 1, ...) raise before it
reports: the failing trials the tests run the tuner with.
"""
import argparse
import time

import nni
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-every", type=int, default=0, help="fail trials 1, N + 1, 2N + 1, ... (0: none)")
    args = parser.parse_args()
    params = nni.get_next_parameter()
    if args.fail_every and nni.get_sequence_id() % args.fail_every == 1:
        raise RuntimeError(f"injected failure of trial {nni.get_sequence_id()}")
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    model = RandomForestClassifier(
        n_estimators=params["n_estimators"], max_depth=params["max_depth"], max_features=params["max_features"],
        min_samples_leaf=int(params["min_samples_leaf"]), ccp_alpha=params["ccp_alpha"],
        criterion=params["criterion"], bootstrap=params["bootstrap"], random_state=0, n_jobs=1,
    )
    started = time.perf_counter()
    model.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - started
    accuracy = float(model.score(x_test, y_test))
    n_nodes = int(sum(tree.tree_.node_count for tree in model.estimators_))
    nni.report_final_result({"default": accuracy, "accuracy": accuracy, "n_nodes": n_nodes, "fit_seconds": fit_seconds})


if __name__ == "__main__":
    main()
