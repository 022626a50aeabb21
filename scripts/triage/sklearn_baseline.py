#!/usr/bin/env python3
"""scikit-learn's TF-IDF + LinearSVC on the same held-out splits as ours.

The baseline a data scientist would build in an afternoon: word 1-2-grams and
character 2-5-grams inside word boundaries (char_wb), sublinear TF-IDF, and a
LinearSVC whose C (and class weighting) is chosen by 5-fold stratified
cross-validation on the training part, scored by the same figure our trainer
selects by. Prints one JSON object per data set.

Usage: sklearn_baseline.py SPLITS_DIR  (as written by make_splits.py)
"""

import csv
import json
import os
import sys
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

URGENCY = {"Blocker": "critical", "Critical": "high", "Major": "normal", "Minor": "low", "Trivial": "low"}

TASKS = [
    # name, folder, text columns, label column, label map, scoring, unsure label, recall group
    ("banking77", "banking77", ["text"], "category", None, "f1_macro", None, None),
    ("clinc150", "clinc150", ["text"], "intent", None, "f1_macro", "oos", None),
    ("hadoop-urgency", "hadoop_bugs", ["summary", "description"], "priority", URGENCY, "f1_macro", None,
     ["critical", "high"]),
    ("hadoop-priority", "hadoop_bugs", ["summary", "description"], "priority", None, "f1_macro", None,
     ["Blocker", "Critical"]),
]


def load(path, text_columns, label_column, label_map):
    texts, labels = [], []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            label = row[label_column].strip()
            if not label:
                continue
            texts.append("\n".join(row[c].strip() for c in text_columns if row[c].strip()))
            labels.append(label_map.get(label, label) if label_map else label)
    return texts, np.array(labels)


def pipeline():
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, token_pattern=r"(?u)\b\w+\b"),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    )
    return make_pipeline(features, LinearSVC())


def main():
    splits = sys.argv[1] if len(sys.argv) > 1 else "/tmp/switchboard-triage-splits"
    only = set(sys.argv[2:])
    for name, folder, text_columns, label_column, label_map, scoring, unsure, group in TASKS:
        if only and name not in only:
            continue
        train_x, train_y = load(os.path.join(splits, folder, "train.csv"), text_columns, label_column, label_map)
        test_x, test_y = load(os.path.join(splits, folder, "test.csv"), text_columns, label_column, label_map)
        started = time.time()
        search = GridSearchCV(
            pipeline(),
            {"linearsvc__C": [0.1, 0.3, 1.0, 3.0], "linearsvc__class_weight": [None, "balanced"]},
            scoring=scoring,
            cv=StratifiedKFold(5, shuffle=True, random_state=0),
            n_jobs=1,
        )
        search.fit(train_x, train_y)
        predicted = search.predict(test_x)
        present = sorted(set(test_y))
        result = {
            "task": name,
            "n": len(test_y),
            "params": {k.split("__")[1]: v for k, v in search.best_params_.items()},
            "accuracy": accuracy_score(test_y, predicted),
            "macro_f1": f1_score(test_y, predicted, labels=present, average="macro", zero_division=0),
            "train_seconds": round(time.time() - started, 1),
        }
        if unsure:
            in_scope = test_y != unsure
            result["in_scope_accuracy"] = float(np.mean(predicted[in_scope] == test_y[in_scope]))
            result["unsure_recall"] = float(np.mean(predicted[~in_scope] == unsure))
        if group:
            relevant = np.isin(test_y, group)
            result["group_recall"] = float(np.mean(np.isin(predicted[relevant], group)))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
