"""The embedding-evaluation queries and the Markdown report that compares two vector tables.

The queries are fixed here (so every run and GloVe answer the same ones): NEIGHBOUR_WORDS for
cosine neighbours, and ANALOGY_GROUPS: word pairs related the same way, from which every
ordered pair of distinct pairs (a, b), (c, d) makes the query a : b :: c : ? (answer d).
Words common in 19th-century novels and in Shakespeare were chosen, so that a model trained
on those corpora has them. A query is asked only when all four words are in both tables, and
both tables answer from the same candidates (the words the two share), so the accuracies
compare like with like.
"""

from __future__ import annotations

from pathlib import Path

from scratchdl.text.embeddings.sampling import analogy_queries
from scratchdl.text.embeddings.vectors import WordVectors

NEIGHBOUR_WORDS = (
    "king", "love", "sister", "happy", "house", "letter", "money", "death", "horse",
    "morning", "beautiful", "sword",
)  # fmt: skip

ANALOGY_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "gender": (
        ("man", "woman"), ("king", "queen"), ("he", "she"), ("his", "her"),
        ("brother", "sister"), ("father", "mother"), ("son", "daughter"),
        ("husband", "wife"), ("uncle", "aunt"), ("boy", "girl"), ("lord", "lady"),
        ("sir", "madam"), ("mr", "mrs"), ("prince", "princess"), ("duke", "duchess"),
        ("nephew", "niece"), ("himself", "herself"),
    ),
    "plural": (
        ("day", "days"), ("year", "years"), ("hand", "hands"), ("friend", "friends"),
        ("eye", "eyes"), ("letter", "letters"), ("word", "words"), ("thing", "things"),
        ("child", "children"), ("man", "men"), ("woman", "women"), ("house", "houses"),
    ),
    "comparative": (
        ("good", "better"), ("bad", "worse"), ("great", "greater"), ("young", "younger"),
        ("old", "older"), ("happy", "happier"), ("long", "longer"), ("strong", "stronger"),
    ),
    "past-tense": (
        ("go", "went"), ("see", "saw"), ("come", "came"), ("know", "knew"), ("take", "took"),
        ("give", "gave"), ("think", "thought"), ("speak", "spoke"), ("write", "wrote"),
        ("say", "said"),
    ),
}  # fmt: skip


def shared(a: WordVectors, b: WordVectors) -> tuple[WordVectors, WordVectors]:
    """Both tables cut to the words they share (in a's order): the same candidate set."""
    words = [w for w in a.words if w in b]
    return (
        WordVectors(words, a.vectors[[a.index[w] for w in words]]),
        WordVectors(words, b.vectors[[b.index[w] for w in words]]),
    )


def analogy_accuracy(wv: WordVectors, queries: list[tuple[str, ...]]) -> dict[str, float]:
    """Top-1 3CosAdd accuracy per group and overall ("all"), over `queries` (group, a, b, c, d)."""
    hits: dict[str, list[int]] = {}
    for group, a, b, c, d in queries:
        ok = int(wv.analogy(a, b, c, k=1)[0][0] == d)
        hits.setdefault(group, []).append(ok)
        hits.setdefault("all", []).append(ok)
    return {g: sum(h) / len(h) for g, h in hits.items()}


def compare_tables(ours: WordVectors, glove: WordVectors, path: Path, title: str) -> dict:
    """Write the Markdown report to `path`; returns the analogy accuracies and query count."""
    mine, theirs = shared(ours, glove)
    queries = [q for q in analogy_queries(ANALOGY_GROUPS) if all(w in mine for w in q[1:])]
    acc_ours = analogy_accuracy(mine, queries) if queries else {}
    acc_glove = analogy_accuracy(theirs, queries) if queries else {}
    lines = [
        f"# {title}",
        "",
        f"Candidates: the {len(mine)} words both tables share (ours has {len(ours)}, GloVe "
        f"{len(glove)}). Similarity: cosine. Analogies: 3CosAdd top-1, a, b, c excluded.",
        "",
        "## Nearest neighbours (5, by cosine)",
        "",
        "| word | ours | GloVe 6B 50d |",
        "|---|---|---|",
    ]
    for w in NEIGHBOUR_WORDS:
        if w in mine:
            row = [", ".join(f"{n} ({s:.2f})" for n, s in t.nearest(w, 5)) for t in (mine, theirs)]
            lines.append(f"| {w} | {row[0]} | {row[1]} |")
    lines += [
        "",
        f"## Analogies ({len(queries)} queries: every ordered pair of the pairs below whose "
        "four words both tables have)",
        "",
        "| group | queries | ours | GloVe 6B 50d |",
        "|---|---|---|---|",
    ]
    for g in [*ANALOGY_GROUPS, "all"]:
        if g in acc_ours:
            n = sum(1 for q in queries if g in ("all", q[0]))
            lines.append(f"| {g} | {n} | {acc_ours[g]:.3f} | {acc_glove[g]:.3f} |")
    lines += ["", "Examples (a : b :: c : ours / GloVe):", ""]
    for q in queries[:: max(1, len(queries) // 12)][:12]:
        _, a, b, c, d = q
        lines.append(
            f"- {a} : {b} :: {c} : {mine.analogy(a, b, c)[0][0]} / "
            f"{theirs.analogy(a, b, c)[0][0]} (expected {d})"
        )
    lines += ["", "Word pairs:", ""]
    for g, pairs in ANALOGY_GROUPS.items():
        lines.append(f"- {g}: " + ", ".join(f"{a}:{b}" for a, b in pairs))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        "analogy_accuracy": acc_ours.get("all", float("nan")),
        "glove_analogy_accuracy": acc_glove.get("all", float("nan")),
        "analogy_queries": len(queries),
    }
