"""Recognition metrics used across TNAS-ER (docs/ARCHITECTURE.md, "Metrics").

WAR (weighted average recall) is the overall accuracy; UAR (unweighted average recall) is the mean of
the per-class recalls, i.e. balanced accuracy — the two figures the SEE benchmark reports
(Zhang et al., SIGGRAPH 2023). Both come from scikit-learn so they agree with it by construction.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, recall_score


def war(y_true, y_pred) -> float:
    """Weighted average recall = accuracy."""
    return float(accuracy_score(y_true, y_pred))


def uar(y_true, y_pred) -> float:
    """Unweighted average recall = balanced accuracy (mean per-class recall over the classes present)."""
    return float(balanced_accuracy_score(y_true, y_pred))


def per_class_recall(y_true, y_pred, classes: Sequence[str]) -> dict[str, float]:
    """Recall of each class by name; a class absent from ``y_true`` gets NaN rather than a made-up 0."""
    labels = list(range(len(classes)))
    recalls = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
    return {name: float(r) for name, r in zip(classes, recalls)}


def per_group_accuracy(y_true, y_pred, groups) -> dict[str, float]:
    """Accuracy within each group (e.g. each lighting condition)."""
    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    return {str(g): war(y_true[groups == g], y_pred[groups == g]) for g in sorted(set(groups.tolist()))}


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Confusion matrix, rows = true class, columns = predicted class."""
    return confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))


def recognition_report(y_true, y_pred, classes: Sequence[str], lighting=None) -> dict[str, float]:
    """Flat metric dict: ``war``, ``uar``, ``recall_<class>`` and, given lighting labels, ``acc_<lighting>``."""
    report = {"war": war(y_true, y_pred), "uar": uar(y_true, y_pred)}
    report.update({f"recall_{name}": r for name, r in per_class_recall(y_true, y_pred, classes).items()})
    if lighting is not None:
        report.update({f"acc_{g.lower()}": a for g, a in per_group_accuracy(y_true, y_pred, lighting).items()})
    return report
