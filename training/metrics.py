"""Classification metrics for the report: accuracy, per-class precision / recall, confusion;
and an arch's metrics.jsonl (one line per epoch) read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence


def read_history(path: Path) -> list[dict]:
    """The rows of a metrics.jsonl, up to a line cut off by a kill (which ends the history)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            break
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
            break
        out.append(row)
    return out


def confusion_matrix(labels: Sequence[int], preds: Sequence[int], num_classes: int) -> list[list[int]]:
    """rows: true class, columns: predicted class."""
    cm = [[0] * num_classes for _ in range(num_classes)]
    for y, p in zip(labels, preds):
        cm[int(y)][int(p)] += 1
    return cm


def classification_report(labels: Sequence[int], preds: Sequence[int], class_names: Sequence[str]) -> dict:
    n = len(class_names)
    cm = confusion_matrix(labels, preds, n)
    total = sum(map(sum, cm))
    correct = sum(cm[i][i] for i in range(n))
    per_class = {}
    for i, name in enumerate(class_names):
        predicted = sum(cm[r][i] for r in range(n))
        support = sum(cm[i])
        precision = cm[i][i] / predicted if predicted else None  # undefined: never predicted
        recall = cm[i][i] / support if support else None
        f1 = (2 * precision * recall / (precision + recall)
              if precision is not None and recall is not None and precision + recall > 0 else None)
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return {"accuracy": correct / total if total else None, "per_class": per_class, "confusion": cm,
            "n": total}
