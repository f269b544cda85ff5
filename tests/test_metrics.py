"""WAR/UAR and the per-class / per-lighting metrics agree with scikit-learn."""
import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, recall_score

from tnas_plugin import metrics

CLASSES = ["anger", "disgust", "fear"]
Y_TRUE = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
Y_PRED = [0, 0, 1, 2, 1, 0, 2, 2, 1, 2]
LIGHTING = ["normal", "low", "normal", "HDR", "low", "normal", "HDR", "low", "normal", "normal"]


def test_war_uar_equal_scikit_learn():
    assert metrics.war(Y_TRUE, Y_PRED) == accuracy_score(Y_TRUE, Y_PRED) == 0.6
    assert metrics.uar(Y_TRUE, Y_PRED) == balanced_accuracy_score(Y_TRUE, Y_PRED)
    assert abs(metrics.uar(Y_TRUE, Y_PRED) - (2 / 4 + 1 / 2 + 3 / 4) / 3) < 1e-12


def test_recognition_report_matches_scikit_learn_per_class_and_per_lighting():
    report = metrics.recognition_report(Y_TRUE, Y_PRED, CLASSES, LIGHTING)
    expected_recall = recall_score(Y_TRUE, Y_PRED, average=None)
    for name, value in zip(CLASSES, expected_recall):
        assert report[f"recall_{name}"] == value
    lighting = np.array(LIGHTING)
    for group in ("normal", "low", "HDR"):
        mask = lighting == group
        assert report[f"acc_{group.lower()}"] == accuracy_score(np.array(Y_TRUE)[mask], np.array(Y_PRED)[mask])
    assert report["war"] == 0.6


def test_absent_class_recall_is_nan_not_zero():
    recalls = metrics.per_class_recall([0, 0, 1], [0, 1, 1], CLASSES)
    assert recalls["anger"] == 0.5 and recalls["disgust"] == 1.0 and np.isnan(recalls["fear"])
