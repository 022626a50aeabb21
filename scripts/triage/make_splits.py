#!/usr/bin/env python3
"""Write the held-out splits every triage evaluation uses, deterministically.

For each data set in ../shared/data (or --data-dir), the labelled rows are split
per label: a fixed-seed shuffle of each label's rows puts round(20 %) of them
(at least one) in test.csv and the rest in train.csv. Models are trained and
tuned on train.csv only (their own cross-validation happens inside it) and
every reported figure comes from test.csv. CLINC150 ships its own validation
file, so its train.csv is used whole for training and val.csv is its test set.

Only the Python standard library is used, so the split does not depend on the
scikit-learn version; the comparison script reads the same files.
"""

import argparse
import csv
import os
import random
import sys

SEED = 20240601
TEST_SHARE = 0.2


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


def write_rows(path, fieldnames, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def stratified_split(rows, label_column, seed, test_share=TEST_SHARE):
    by_label = {}
    for index, row in enumerate(rows):
        by_label.setdefault(row[label_column], []).append(index)
    generator = random.Random(seed)
    test_indices = set()
    for label in sorted(by_label):
        indices = by_label[label]
        generator.shuffle(indices)
        n_test = max(1, round(len(indices) * test_share)) if len(indices) > 1 else 0
        test_indices.update(indices[:n_test])
    train = [row for index, row in enumerate(rows) if index not in test_indices]
    test = [row for index, row in enumerate(rows) if index in test_indices]
    return train, test


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--data-dir", default=os.path.join(here, "..", "..", "..", "shared", "data"))
    parser.add_argument("--out-dir", default="/tmp/switchboard-triage-splits")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()

    for name, label_column in [("banking77", "category"), ("hadoop_bugs", "priority")]:
        fieldnames, rows = read_rows(os.path.join(args.data_dir, name, "train.csv"))
        train, test = stratified_split(rows, label_column, args.seed)
        os.makedirs(os.path.join(args.out_dir, name), exist_ok=True)
        write_rows(os.path.join(args.out_dir, name, "train.csv"), fieldnames, train)
        write_rows(os.path.join(args.out_dir, name, "test.csv"), fieldnames, test)
        print(f"{name}: {len(train)} train, {len(test)} held out", file=sys.stderr)

    clinc = os.path.join(args.out_dir, "clinc150")
    os.makedirs(clinc, exist_ok=True)
    fieldnames, rows = read_rows(os.path.join(args.data_dir, "clinc150", "train.csv"))
    write_rows(os.path.join(clinc, "train.csv"), fieldnames, rows)
    fieldnames, rows = read_rows(os.path.join(args.data_dir, "clinc150", "val.csv"))
    calibration, test = stratified_split(rows, "intent", args.seed, test_share=0.5)
    write_rows(os.path.join(clinc, "calibration.csv"), fieldnames, calibration)
    write_rows(os.path.join(clinc, "test.csv"), fieldnames, test)
    print(f"clinc150: train.csv for training, val.csv split into {len(calibration)} calibration"
          f" and {len(test)} held out", file=sys.stderr)


if __name__ == "__main__":
    main()
