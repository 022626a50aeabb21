#!/usr/bin/env python3
"""scikit-learn's TF-IDF + LinearSVC on the same held-out splits as ours.

The baseline a data scientist would build in an afternoon: word 1-2-grams and
character 2-5-grams inside word boundaries (char_wb), sublinear TF-IDF, and a
LinearSVC whose C (and class weighting) is chosen by 5-fold stratified
cross-validation on the training part, scored by the same figure our trainer
selects by. Prints one JSON object per data set.

Usage: sklearn_baseline.py SPLITS_DIR [TASK…]  (as written by make_splits.py)
       sklearn_baseline.py --cv FOLDS.csv [--recall-group NAME=LABEL+LABEL…]

With --cv, the same repeated cross-validation as `switchboard triage cv`, on
the very folds it wrote with --folds-out: for each repeat and fold, the grid
search runs on the other folds only and the fold is scored. Prints each run,
then the mean, standard deviation, minimum and maximum of each figure, then
one JSON object.
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


def grid_search(scoring="f1_macro"):
    return GridSearchCV(
        pipeline(),
        {"linearsvc__C": [0.1, 0.3, 1.0, 3.0], "linearsvc__class_weight": [None, "balanced"]},
        scoring=scoring,
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
        n_jobs=1,
    )


def spread(values):
    values = np.asarray(values, dtype=float)
    sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return {"runs": len(values), "mean": float(values.mean()), "sd": sd, "min": float(values.min()),
            "max": float(values.max())}


def fit_best(texts, labels, scoring="f1_macro"):
    """What grid_search() fits, with each inner split's features computed
    once for all eight settings (the vectorisers have no setting in the
    grid, so the choice and the model are the same; about 8 times faster)."""
    grid = [(c, weight) for c in (0.1, 0.3, 1.0, 3.0) for weight in (None, "balanced")]
    assert scoring == "f1_macro"
    totals = {setting: 0.0 for setting in grid}
    for inner_train, inner_test in StratifiedKFold(5, shuffle=True, random_state=0).split(texts, labels):
        features = pipeline().steps[0][1]
        train_x = features.fit_transform([texts[i] for i in inner_train])
        test_x = features.transform([texts[i] for i in inner_test])
        for c, weight in grid:
            predicted = LinearSVC(C=c, class_weight=weight).fit(train_x, labels[inner_train]).predict(test_x)
            totals[(c, weight)] += f1_score(labels[inner_test], predicted, average="macro")
    # GridSearchCV keeps the first of equal scores.
    c, weight = max(grid, key=lambda setting: (totals[setting], -grid.index(setting)))
    features = pipeline().steps[0][1]
    model = LinearSVC(C=c, class_weight=weight).fit(features.fit_transform(texts), labels)
    return (lambda new_texts: model.predict(features.transform(new_texts))), {"C": c, "class_weight": weight}


def cross_validate(folds_path, groups):
    with open(folds_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        sys.exit(f"{folds_path}: no rows")
    texts = [row["text"] for row in rows]
    labels = np.array([row["label"] for row in rows])
    repeats = sorted((c for c in rows[0] if c.startswith("repeat")), key=lambda c: int(c[len("repeat"):]))
    figures = {"accuracy": [], "macro_f1": [], **{f"{name}_recall": [] for name in groups}}
    for repeat in repeats:
        fold_of = np.array([int(row[repeat]) for row in rows])
        for fold in sorted(set(fold_of)):
            test = fold_of == fold
            predict, params = fit_best([t for t, held in zip(texts, test) if not held], labels[~test])
            predicted = predict([t for t, held in zip(texts, test) if held])
            truth = labels[test]
            run = {"accuracy": accuracy_score(truth, predicted),
                   "macro_f1": f1_score(truth, predicted, labels=sorted(set(truth)), average="macro", zero_division=0)}
            for name, members in groups.items():
                relevant = np.isin(truth, members)
                if relevant.any():
                    run[f"{name}_recall"] = float(np.mean(np.isin(predicted[relevant], members)))
            recalls = "".join(f"  {k.removesuffix('_recall')} recall {v:.4f}" for k, v in run.items() if k.endswith("_recall"))
            print(f"{repeat} fold {fold}: accuracy {run['accuracy']:.4f}  macro-F1 {run['macro_f1']:.4f}{recalls}  {params}",
                  flush=True)
            for key, value in run.items():
                figures[key].append(value)
    summary = {key: spread(values) for key, values in sorted(figures.items()) if values}
    for key, s in summary.items():
        print(f"{key}: mean {s['mean']:.4f}  sd {s['sd']:.4f}  min {s['min']:.4f}  max {s['max']:.4f}  ({s['runs']} runs)")
    print(json.dumps(summary))


def main():
    arguments = sys.argv[1:]
    if arguments[:1] == ["--cv"]:
        if len(arguments) < 2:
            sys.exit("--cv needs the folds file written by `triage cv --folds-out`")
        groups = {}
        rest = arguments[2:]
        while rest:
            if rest[0] != "--recall-group" or len(rest) < 2 or "=" not in rest[1]:
                sys.exit(f"unexpected argument {rest[0]!r}; expected --recall-group NAME=LABEL+LABEL")
            name, members = rest[1].split("=", 1)
            groups[name] = members.split("+")
            rest = rest[2:]
        cross_validate(arguments[1], groups)
        return
    splits = arguments[0] if arguments else "/tmp/switchboard-triage-splits"
    only = set(arguments[1:])
    for name, folder, text_columns, label_column, label_map, scoring, unsure, group in TASKS:
        if only and name not in only:
            continue
        train_x, train_y = load(os.path.join(splits, folder, "train.csv"), text_columns, label_column, label_map)
        test_x, test_y = load(os.path.join(splits, folder, "test.csv"), text_columns, label_column, label_map)
        started = time.time()
        search = grid_search(scoring)
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
