#!/usr/bin/env python3
"""scikit-learn's peer of the knowledge base's matching, on the same splits.

What a data scientist would build in an afternoon: each document is its
question and phrasings (for StackFAQ also its answers), vectorised with word
1-2-gram and character 2-5-gram (char_wb) sublinear TF-IDF fitted on the
documents; a query is ranked against every document by the larger of its
cosine to the document as a whole and to the closest single text. MRR counts
the top 10, as `kb eval` does.

Usage: sklearn_baseline.py faqs FAQS.jsonl QUERIES.csv [LEARN.csv]
       sklearn_baseline.py docs DOCS.csv QUERIES.csv [LEARN.csv]   (Banking77-as-FAQ)

QUERIES.csv and LEARN.csv have `query,faq_id` (faqs) or `text,category`
(docs) columns; LEARN.csv's rows become phrasings of their documents, as
`kb eval --learn` does. Prints one JSON object.
"""

import csv
import json
import sys
import time
from collections import defaultdict

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_union

DEPTH = 10


def read_pairs(path, text_column, id_column):
    with open(path, newline="", encoding="utf-8") as handle:
        return [(row[text_column], row[id_column]) for row in csv.DictReader(handle)]


def main():
    if len(sys.argv) not in (4, 5) or sys.argv[1] not in ("faqs", "docs"):
        sys.exit(__doc__)
    kind, corpus, queries_path = sys.argv[1:4]
    columns = ("query", "faq_id") if kind == "faqs" else ("text", "category")
    texts = defaultdict(list)  # document id -> texts matched against
    answers = defaultdict(list)  # document id -> answer texts (StackFAQ only)
    if kind == "faqs":
        with open(corpus, encoding="utf-8") as handle:
            for line in handle:
                article = json.loads(line)
                texts[article["id"]].append(article["question"])
                answers[article["id"]].extend(article.get("answers", []))
    else:
        for text, doc_id in read_pairs(corpus, *columns):
            texts[doc_id].append(text)
    if len(sys.argv) == 5:
        for text, doc_id in read_pairs(sys.argv[4], *columns):
            if doc_id in texts:
                texts[doc_id].append(text)
    queries = read_pairs(queries_path, *columns)

    started = time.time()
    ids = sorted(texts)
    whole = ["\n".join(texts[i] + answers[i]) for i in ids]
    parts = [(position, text) for position, i in enumerate(ids) for text in texts[i]]
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )
    features.fit(whole + [text for _, text in parts])
    # The union's two blocks are each unit length: halve the cosine back to [0, 1].
    whole_matrix = features.transform(whole)
    part_matrix = features.transform([text for _, text in parts])
    part_owner = np.array([position for position, _ in parts])
    indexed = time.time() - started

    reciprocal, hits = [], {1: 0, 5: 0, 10: 0}
    timings = []
    for text, gold in queries:
        began = time.perf_counter()
        query = features.transform([text])
        scores = (whole_matrix @ query.T).toarray().ravel() / 2
        closest = np.zeros(len(ids))
        np.maximum.at(closest, part_owner, (part_matrix @ query.T).toarray().ravel() / 2)
        ranking = np.argsort(-np.maximum(scores, closest), kind="stable")[:DEPTH]
        timings.append(time.perf_counter() - began)
        ranked = [ids[position] for position in ranking]
        rank = ranked.index(gold) + 1 if gold in ranked else None
        reciprocal.append(1 / rank if rank else 0.0)
        for k in hits:
            hits[k] += bool(rank and rank <= k)
    n = len(queries)
    print(json.dumps({
        "system": "sklearn tf-idf cosine",
        "n": n,
        "documents": len(ids),
        "mrr": round(float(np.mean(reciprocal)), 4),
        "recall@1": round(hits[1] / n, 4),
        "recall@5": round(hits[5] / n, 4),
        "recall@10": round(hits[10] / n, 4),
        "p50_ms": round(float(np.percentile(timings, 50)) * 1000, 3),
        "p99_ms": round(float(np.percentile(timings, 99)) * 1000, 3),
        "index_seconds": round(indexed, 2),
    }))


if __name__ == "__main__":
    main()
