#!/usr/bin/env python3
"""Write the training data of the default category model, deterministically.

The model sorts customer-service messages into the 11 categories of the
Bitext customer-service set (account, cancellation_fee, contact, delivery,
feedback, invoices, newsletter, order, payment, refunds, shipping) and has a
twelfth label, `other`, for what is none of them; triage treats `other` as
unsure, so those tickets go to a person.

- The categories: Bitext's utterances, lower-cased category names, at most
  --per-category of each (a fixed-seed sample; the set is machine-generated
  and repetitive, so more adds little).
- Realistic tickets: triage/data/category-tickets.csv, 400 support tickets
  written for this project and labelled with these categories. Those with
  an odd id number are trained on, twice (they are what the model will
  meet; Bitext's chat-like utterances alone transfer poorly to tickets);
  those with an even number go to --calibration-out, on which triage fits
  the temperature and the unsure threshold.
- `other`: CLINC150 training queries from its eight domains that are not
  banking or credit cards (travel, home, kitchen, work, small talk…), its
  out-of-scope queries, and the everyday support tickets of
  triage/data/urgency-everyday-train.csv from domains with no orders,
  payments or accounts (facilities, field equipment, health, manufacturing,
  IT, …). Never the urgency evaluation set.

Columns: title (empty but for tickets), description, category, source.
Usage: make_category_data.py [--data-dir ../shared/data] --out FILE.csv
           --calibration-out FILE.csv
Only the Python standard library is used.
"""

import argparse
import csv
import os
import random

SEED = 20261206
# Support-ticket domains whose tickets are about none of Bitext's categories.
OTHER_TICKET_DOMAINS = {
    "facilities", "field_equipment", "health", "manufacturing", "it", "education",
    "laboratory", "construction", "devops", "energy", "agriculture", "government",
    "legal", "property", "media", "pharmacy", "automotive",
}
CLINC_CUSTOMER_DOMAINS = {"banking", "credit_cards"}


def read(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.path.join(root, "..", "shared", "data"))
    parser.add_argument("--out", required=True)
    parser.add_argument("--calibration-out", required=True)
    parser.add_argument("--per-category", type=int, default=800)
    parser.add_argument("--clinc-per-domain", type=int, default=150)
    args = parser.parse_args()
    rng = random.Random(SEED)

    rows = []
    by_category = {}
    for row in read(os.path.join(args.data_dir, "bitext", "utterances.csv")):
        by_category.setdefault(row["category"].lower(), []).append(row["utterance"])
    for category, texts in sorted(by_category.items()):
        rng.shuffle(texts)
        rows += [("", text, category, "bitext") for text in texts[: args.per_category]]

    clinc = {}
    for row in read(os.path.join(args.data_dir, "clinc150", "train.csv")):
        if row["domain"] not in CLINC_CUSTOMER_DOMAINS:
            clinc.setdefault(row["domain"], []).append(row["text"])
    for domain, texts in sorted(clinc.items()):
        rng.shuffle(texts)
        keep = texts if domain == "oos" else texts[: args.clinc_per_domain]
        rows += [("", text, "other", "clinc150") for text in keep]

    tickets = os.path.join(root, "triage", "data", "urgency-everyday-train.csv")
    for row in read(tickets):
        if row["domain"] in OTHER_TICKET_DOMAINS:
            rows.append((row["title"], row["description"], "other", "switchboard-tickets"))

    calibration = []
    for row in read(os.path.join(root, "triage", "data", "category-tickets.csv")):
        if int(row["id"].lstrip("c")) % 2 == 1:
            rows += [(row["title"], row["description"], row["category"], "switchboard-tickets")] * 2
        else:
            calibration.append((row["title"], row["description"], row["category"], "switchboard-tickets"))
    with open(args.calibration_out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["title", "description", "category", "source"])
        writer.writerows(calibration)

    rng.shuffle(rows)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["title", "description", "category", "source"])
        writer.writerows(rows)
    counts = {}
    for _, _, category, _ in rows:
        counts[category] = counts.get(category, 0) + 1
    print(f"{len(rows)} rows: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
