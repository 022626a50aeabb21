#!/usr/bin/env python3
"""Write the small test fixture triage/tests/fixtures/intents_sample.csv.

The crate's tests must run without ../shared, so they use this sample: 30
queries from each of 8 Banking77 categories (CC BY 4.0, Casanueva et al. 2020)
and 40 out-of-scope queries from CLINC150 (CC BY 3.0, Larson et al. 2019),
labelled `oos`. Rows are drawn with a fixed seed; re-running this script
reproduces the file byte for byte.
"""

import csv
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "..", "shared", "data")
OUT = os.path.join(HERE, "..", "..", "triage", "tests", "fixtures", "intents_sample.csv")
CATEGORIES = [
    "card_arrival", "lost_or_stolen_card", "exchange_rate", "pending_top_up",
    "change_pin", "declined_transfer", "terminate_account", "atm_support",
]
PER_CATEGORY = 30
OUT_OF_SCOPE = 40


def main():
    generator = random.Random(77)
    with open(os.path.join(DATA, "banking77", "train.csv"), newline="", encoding="utf-8") as handle:
        banking = list(csv.DictReader(handle))
    with open(os.path.join(DATA, "clinc150", "train.csv"), newline="", encoding="utf-8") as handle:
        clinc = [row for row in csv.DictReader(handle) if row["intent"] == "oos"]
    rows = []
    for category in CATEGORIES:
        texts = [row["text"] for row in banking if row["category"] == category]
        rows += [(text, category) for text in generator.sample(texts, PER_CATEGORY)]
    rows += [(row["text"], "oos") for row in generator.sample(clinc, OUT_OF_SCOPE)]
    generator.shuffle(rows)
    with open(OUT, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
