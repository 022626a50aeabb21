#!/usr/bin/env python3
"""Train and evaluate Switchboard's triage models and scikit-learn's
TF-IDF + LinearSVC on the same held-out splits, and print the figures side by
side. Run through compare.sh, which builds the binary and writes the splits.

Usage: compare.py TRIAGE_BINARY SPLITS_DIR WORK_DIR [TASK…]

Environment: SWITCHBOARD_TRIAGE_SYSTEMS, comma-separated, which of our
systems to train: "plain" (TF-IDF features), "static" (TF-IDF plus the
built-in static embedding table) and "encoder" (TF-IDF plus the sentence
encoder in SWITCHBOARD_TRIAGE_ENCODER); default "plain".
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
URGENCY_MAP = "Blocker=critical,Critical=high,Major=normal,Minor=low,Trivial=low"

# name, folder, text columns, label column, extra train args, eval extras (list of (tag, args))
TASKS = [
    ("banking77", "banking77", "text", "category", [], [("", [])]),
    ("clinc150", "clinc150", "text", "intent", ["--unsure-label", "oos", "--calibration-data", "{splits}/clinc150/calibration.csv"],
     [("no threshold", ["--unsure-label", "oos", "--ignore-threshold"]), ("unsure path", ["--unsure-label", "oos"])]),
    ("hadoop-urgency", "hadoop_bugs", "summary,description", "priority", ["--label-map", URGENCY_MAP],
     [("", ["--label-map", URGENCY_MAP, "--recall-group", "urgent=critical+high"])]),
    ("hadoop-priority", "hadoop_bugs", "summary,description", "priority", [],
     [("", ["--recall-group", "urgent=Blocker+Critical"])]),
]


def run(command, log):
    with open(log, "w") as handle:
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=handle, text=True)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed, see {log}")
    return completed.stdout


def figure(value):
    return "   -  " if value is None else f"{value:6.4f}"


def systems():
    chosen = [s for s in os.environ.get("SWITCHBOARD_TRIAGE_SYSTEMS", "plain").split(",") if s]
    encoder = os.environ.get("SWITCHBOARD_TRIAGE_ENCODER")
    result = []
    for system in chosen:
        if system == "plain":
            result.append(("ours", "", ["--encoder", "none"]))
        elif system == "static":
            result.append(("ours+st", "-static", ["--encoder", "static"]))
        elif system == "encoder":
            if not encoder:
                sys.exit("the encoder system needs SWITCHBOARD_TRIAGE_ENCODER")
            result.append(("ours+enc", "-enc", ["--encoder", encoder]))
        else:
            sys.exit(f"unknown system {system!r} (plain, static, encoder)")
    return result


def main():
    binary, splits, work = sys.argv[1:4]
    only = set(sys.argv[4:])
    os.makedirs(work, exist_ok=True)
    ours = {}
    for (system, suffix, system_args), (name, folder, text, label, train_extra, evaluations) in (
            (s, t) for t in TASKS for s in systems()):
        if only and name not in only:
            continue
        model = os.path.join(work, f"{name}{suffix}.sbtm")
        started = time.time()
        report = run([binary, "train", "--data", os.path.join(splits, folder, "train.csv"), "--text", text,
                      "--label", label, "--out", model, *system_args, *[arg.format(splits=splits) for arg in train_extra]],
                     os.path.join(work, f"{name}{suffix}.train.log"))
        seconds = time.time() - started
        selected = next((line for line in report.splitlines() if line.startswith("selected")), "")
        print(f"[{system}] {name}: {selected} ({seconds:.0f}s)", flush=True)
        with open(os.path.join(work, f"{name}{suffix}.train.txt"), "w") as handle:
            handle.write(report)
        for tag, eval_extra in evaluations:
            output = run([binary, "eval", "--model", model, "--data", os.path.join(splits, folder, "test.csv"),
                          "--text", text, "--label", label, *eval_extra], os.path.join(work, f"{name}{suffix}.eval.log"))
            result = json.loads(output.strip().splitlines()[-1])
            result["train_seconds"] = round(seconds, 1)
            ours[(system, name, tag)] = result

    print("[sklearn] running TF-IDF + LinearSVC (grid search over C and class weights)...", flush=True)
    baseline_output = subprocess.run(
        [sys.executable, os.path.join(HERE, "sklearn_baseline.py"), splits, *only],
        stdout=subprocess.PIPE, check=True, text=True,
    ).stdout
    theirs = {result["task"]: result for result in map(json.loads, baseline_output.strip().splitlines())}

    print()
    print("Held-out figures (models trained and tuned on train.csv only)")
    header = f"{'task':<30} {'system':<9} {'n':>5} {'acc':>6} {'macroF1':>7} {'ECE':>6} {'inScope':>7} {'oosRec':>6} {'urgRec':>6} {'unsure':>6} {'train s':>7}"
    print(header)
    print("-" * len(header))
    for name, _, _, _, _, evaluations in TASKS:
        if only and name not in only:
            continue
        for (system, _, _), (tag, _) in ((s, e) for s in systems() for e in evaluations):
            result = ours[(system, name, tag)]
            group = (result.get("group_recall") or {}).get("urgent")
            label = f"{name} {tag}".strip()
            print(f"{label:<30} {system:<9} {result['n']:>5} {figure(result['accuracy'])} {figure(result['macro_f1']):>7} "
                  f"{figure(result['ece'])} {figure(result.get('in_scope_accuracy')):>7} {figure(result.get('unsure_recall'))} "
                  f"{figure(group)} {figure(result.get('unsure_rate'))} {result['train_seconds']:>7}")
        base = theirs.get(name)
        if base:
            print(f"{name:<30} {'sklearn':<9} {base['n']:>5} {figure(base['accuracy'])} {figure(base['macro_f1']):>7} "
                  f"{figure(None)} {figure(base.get('in_scope_accuracy')):>7} {figure(base.get('unsure_recall'))} "
                  f"{figure(base.get('group_recall'))} {figure(None)} {base['train_seconds']:>7}   {base['params']}")
    with open(os.path.join(work, "results.json"), "w") as handle:
        json.dump({"ours": {f"{k[0]} {k[1]} {k[2]}".strip(): v for k, v in ours.items()}, "sklearn": theirs}, handle, indent=1)
    print(f"\nfull JSON: {os.path.join(work, 'results.json')}; training reports: {work}/*.train.txt")


if __name__ == "__main__":
    main()
