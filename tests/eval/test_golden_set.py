"""The golden set as data: schema, facts and key phrases against the course text, split rule, coverage.

Fast on purpose: no model, no index; the course files and the JSONL are read as text.
Schema and rules: eval/datasets/README.md.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from eval.golden import DEFAULT_GOLDEN, fact_found, fold, load_golden
from genaiops.settings import REPO_ROOT

COURSE = REPO_ROOT / "data" / "course"
DOCS = {p.name: p.read_text(encoding="utf-8") for p in sorted(COURSE.glob("0*.txt"))}
FOLDED = {name: fold(text) for name, text in DOCS.items()}
LINES = [json.loads(line) for line in DEFAULT_GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
IN_SCOPE = [r for r in LINES if r["kind"] == "in_scope"]

KEY_ORDER = ["id", "split", "kind", "lang", "categories", "question", "history", "reference", "source", "key_phrase",
             "expected_facts"]  # fmt: skip
ORDER = ["follow_up", "english", "paraphrase", "multi_fact", "table", "list", "fact"]  # canonical order of categories
WHERE = {"table", "list", "fact"}  # exactly one: where the answer sits in the course
ID_PATTERN = {"in_scope": r"q\d{2,}", "out_of_scope": r"oos\d{2,}", "injection": r"inj\d{2,}"}
MINIMUMS = {"table": 18, "list": 15, "english": 20, "paraphrase": 15, "multi_fact": 8, "follow_up": 24}


def ids(rows: list[dict]) -> list[str]:
    return [r["id"] for r in rows]


def alternatives(fact: str | list[str]) -> list[str]:
    return [fact] if isinstance(fact, str) else fact


def cells(line: str) -> list[str]:
    """A line's table cells (markdown ``|`` or tab separated); a line outside a table is one cell."""
    return [c for c in re.split(r"\||\t", line) if c.strip()]


def phrase_lines(row: dict) -> list[int]:
    """Numbers (0-based) of the source lines that hold the key phrase inside one table cell or line."""
    phrase = fold(row["key_phrase"])
    lines = DOCS[row["source"]].splitlines()
    return [n for n, line in enumerate(lines) if any(phrase in fold(cell) for cell in cells(line))]


def split_rule(rows: list[dict]) -> dict[str, str]:
    """The written rule: stratum = first category (in_scope) or kind; by id number; index % 5 in {1, 3} -> test."""
    strata: dict[str, list[dict]] = {}
    for r in rows:
        strata.setdefault(r["categories"][0] if r["kind"] == "in_scope" else r["kind"], []).append(r)
    split = {}
    for members in strata.values():
        for index, r in enumerate(sorted(members, key=lambda r: int(re.sub(r"\D", "", r["id"])))):
            split[r["id"]] = "test" if index % 5 in (1, 3) else "dev"
    return split


# ---------------------------------------------------------------- headings and tables of the course

_MD_HEADING = re.compile(r"^\s*(?:[+*-]\s+)?(#{1,6})\s+\S")  # "## x", "+ ### x" (003 puts headings in list items)
_NUMBERED_TITLE = re.compile(r"^\d+\.\s+[^\W\d_]")  # 004's plain-text titles: "1. Azure Machine Learning – ..."
_FENCE = re.compile(r"```.*?```", re.DOTALL)


def headings(text: str) -> list[tuple[int, int, str]]:
    """(line, level, title) of the ``##``/``###`` headings and of 004's numbered section titles (level 4)."""
    found = []
    for n, line in enumerate(text.splitlines()):
        if m := _MD_HEADING.match(line):
            if len(m.group(1)) in (2, 3):
                found.append((n, len(m.group(1)), line.strip()))
        elif _NUMBERED_TITLE.match(line):  # no bold after the number: 000 and 002's numbered lists start with **
            found.append((n, 4, line.strip()))
    return found


def has_prose(lines: list[str]) -> bool:
    """Text worth a question: not only code fences, HTML, rules or blank lines."""
    body = re.sub(r"<[^>]+>", " ", _FENCE.sub(" ", "\n".join(lines)))
    return any(re.search(r"\w", line) and not re.fullmatch(r"\s*-{3,}\s*", line) for line in body.splitlines())


def section_bounds(text: str) -> list[tuple[str, int, int, int]]:
    """(title, start, end of own body, end of subtree) for every heading ``headings`` finds."""
    all_heads = [(n, len(m.group(1))) for n, line in enumerate(text.splitlines()) if (m := _MD_HEADING.match(line))]
    all_heads += [(n, level) for n, level, _ in headings(text) if level == 4]
    all_heads.sort()
    total = len(text.splitlines())
    bounds = []
    for n, level, title in headings(text):
        own_end = next((m for m, _ in all_heads if m > n), total)
        subtree_end = next((m for m, lv in all_heads if m > n and lv <= level), total)
        bounds.append((title, n, own_end, subtree_end))
    return bounds


def table_rows(text: str) -> list[int]:
    """Line numbers of the data rows of every table (markdown pipes or tab separated): header and rule skipped."""
    lines = text.splitlines()
    is_table = [line.lstrip().startswith("|") or "\t" in line for line in lines]
    return [
        n
        for n, line in enumerate(lines)
        if is_table[n] and n > 0 and is_table[n - 1] and not re.fullmatch(r"[\s|:-]+", line)
    ]


# ---------------------------------------------------------------- the tests


def test_every_line_loads_and_ids_are_unique_and_well_formed() -> None:
    items = load_golden()
    assert len(items) == len(LINES)
    assert len(set(ids(LINES))) == len(LINES)
    for row in LINES:
        assert re.fullmatch(ID_PATTERN[row["kind"]], row["id"]), row["id"]
        assert list(row) == [k for k in KEY_ORDER if k in row], row["id"]  # stable key order
        assert set(KEY_ORDER) - set(row) <= {"history"}, row["id"]
        assert row["lang"] in ("fr", "en") and row["question"].strip() and row["reference"].strip(), row["id"]
        assert row["split"] in ("dev", "test"), row["id"]


def test_a_question_is_asked_once_in_a_given_conversation() -> None:
    asked = Counter((fold(r["question"]), json.dumps(r.get("history", []))) for r in LINES)
    assert [q for q, n in asked.items() if n > 1] == []


@pytest.mark.parametrize("row", IN_SCOPE, ids=ids(IN_SCOPE))
def test_in_scope_entry_is_complete_and_its_categories_consistent(row: dict) -> None:
    assert row["source"] in DOCS and row["key_phrase"] and row["reference"].strip()
    assert row["expected_facts"] and row["categories"]
    cats = row["categories"]
    assert cats == [c for c in ORDER if c in cats], f"categories out of canonical order: {cats}"
    assert len(WHERE & set(cats)) == 1, "exactly one of table / list / fact"
    assert ("english" in cats) == (row["lang"] == "en")
    assert ("follow_up" in cats) == bool(row.get("history"))
    assert ("multi_fact" in cats) == (len(row["expected_facts"]) >= 3), "multi_fact <=> 3 facts or more"


@pytest.mark.parametrize("row", IN_SCOPE, ids=ids(IN_SCOPE))
def test_key_phrase_is_a_short_verbatim_phrase_of_one_line_of_its_source(row: dict) -> None:
    phrase = fold(row["key_phrase"])
    assert 2 <= len(phrase.split()) <= 8, row["key_phrase"]
    if len(phrase.split()) < 3:  # two words only when that is the whole table cell, line or diagram node
        lines_of_source = DOCS[row["source"]].splitlines()
        whole = {fold(c).strip(" *`") for line in lines_of_source for c in cells(line)}
        whole |= {fold(label) for line in lines_of_source for label in re.findall(r"[\[{]([^\]}]+)[\]}]", line)}
        assert phrase in whole, f"{row['key_phrase']!r}: 3 to 8 words, unless the cell or line is that short"
    assert FOLDED[row["source"]].count(phrase) == 1, "the key phrase must point at one passage"
    lines = DOCS[row["source"]].splitlines()
    assert phrase_lines(row), "the key phrase spans a line break or a table cell boundary"
    assert not any(_MD_HEADING.match(lines[n]) for n in phrase_lines(row)), "heading lines are not in chunk text"


PARAPHRASES = [r for r in IN_SCOPE if "paraphrase" in r["categories"]]


def content_words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9/]+", fold(text)) if len(w) >= 5}


@pytest.mark.parametrize("row", PARAPHRASES, ids=ids(PARAPHRASES))
def test_a_paraphrase_shares_at_most_one_content_word_with_its_passage(row: dict) -> None:
    lines = DOCS[row["source"]].splitlines()
    passage = set().union(*(content_words(lines[n]) for n in phrase_lines(row)))
    assert len(content_words(row["question"]) & passage) <= 1, content_words(row["question"]) & passage


@pytest.mark.parametrize("row", IN_SCOPE, ids=ids(IN_SCOPE))
def test_expected_facts_are_short_and_said_by_the_course(row: dict) -> None:
    source = DOCS[row["source"]]
    for fact in row["expected_facts"]:
        alts = alternatives(fact)
        assert alts and all(isinstance(a, str) and 1 <= len(a.split()) <= 4 for a in alts), fact
    found = [fact_found(source, fact) for fact in row["expected_facts"]]
    if row["lang"] == "en":  # English alternatives are not in the French course, but the answer is anchored in it
        assert any(found), f"no fact of this English entry occurs in {row['source']}"
    else:
        assert all(found), [f for f, ok in zip(row["expected_facts"], found, strict=True) if not ok]


def test_out_of_scope_and_injection_entries_have_no_source() -> None:
    for row in LINES:
        if row["kind"] != "in_scope":
            assert row["source"] is None and row["key_phrase"] is None and row["expected_facts"] == [], row["id"]
            assert row["categories"] == (["follow_up"] if row.get("history") else []), row["id"]


def test_follow_ups_carry_a_well_formed_history() -> None:
    with_history = [r for r in LINES if r.get("history")]
    for row in with_history:
        turns = row["history"]
        assert all(set(t) == {"role", "content"} and t["content"].strip() for t in turns), row["id"]
        roles = [t["role"] for t in turns]
        assert roles == ["user", "assistant"] * (len(turns) // 2) and len(turns) % 2 == 0, (row["id"], roles)
    assert all("history" not in r or r["history"] for r in LINES)  # no empty history key


def test_split_follows_the_written_rule() -> None:
    expected = split_rule(LINES)
    assert {r["id"]: r["split"] for r in LINES} == expected
    assert 0.3 <= sum(r["split"] == "test" for r in IN_SCOPE) / len(IN_SCOPE) <= 0.45


def test_load_golden_filters_the_split_before_the_per_kind_limit() -> None:
    dev, test = load_golden(split="dev"), load_golden(split="test")
    assert len(dev) + len(test) == len(LINES) and {i.split for i in dev} == {"dev"}
    short = load_golden(limit=3, split="test")
    assert Counter(i.kind for i in short) == {"in_scope": 3, "out_of_scope": 3, "injection": 3}
    assert [i.id for i in short if i.kind == "in_scope"] == [i.id for i in test if i.kind == "in_scope"][:3]
    follow_up = next(i for i in load_golden() if i.history)
    assert follow_up.history[0]["role"] == "user" and "follow_up" in follow_up.categories


def test_coverage_counts() -> None:
    kinds = Counter(r["kind"] for r in LINES)
    assert kinds["in_scope"] >= 110 and kinds["out_of_scope"] >= 25 and kinds["injection"] >= 8
    categories = Counter(c for r in IN_SCOPE for c in r["categories"])
    assert {c: categories[c] for c in MINIMUMS if categories[c] < MINIMUMS[c]} == {}
    assert {r["source"] for r in IN_SCOPE} == set(DOCS)
    langs = Counter(r["lang"] for r in LINES if r["kind"] == "out_of_scope" and int(r["id"][3:]) >= 16)
    assert langs["en"] >= 5  # half of the added off-topic questions are in English
    assert sum(bool(r.get("history")) for r in LINES if r["kind"] == "out_of_scope") >= 1


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_heading_of_the_course_has_a_question(name: str) -> None:
    """A heading with its own text needs a key phrase in that text; one with only subsections, in its subtree.

    A heading followed only by an image and a rule (003's "MLOps Toolbox") has nothing to ask.
    """
    lines = DOCS[name].splitlines()
    asked = {n for r in IN_SCOPE if r["source"] == name for n in phrase_lines(r)}
    missing = []
    for title, start, own_end, subtree_end in section_bounds(DOCS[name]):
        if has_prose(lines[start + 1 : own_end]):
            if not asked & set(range(start + 1, own_end)):
                missing.append(title)
        elif has_prose(lines[start + 1 : subtree_end]) and not asked & set(range(start + 1, subtree_end)):
            missing.append(title)
    assert missing == []


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_table_row_has_a_table_question(name: str) -> None:
    lines = DOCS[name].splitlines()
    on_row = {n for r in IN_SCOPE if r["source"] == name and "table" in r["categories"] for n in phrase_lines(r)}
    assert [lines[n] for n in table_rows(DOCS[name]) if n not in on_row] == []


def test_the_course_structure_the_checks_rely_on() -> None:
    """Guards the parsers above: if the course changes shape, these counts say so before coverage silently passes."""
    assert len(table_rows(DOCS["001_d7d9398d42cf6008.txt"])) == 6 + 4 + 5
    assert len(table_rows(DOCS["004_0bad4acb6f838f2f.txt"])) == 4
    assert [len(headings(t)) for t in DOCS.values()] == [3, 14, 0, 16, 2 + 7]
