"""Structure-aware chunking: a document becomes passages that each make sense on their own.

A fixed-size window cuts a table away from its header ("AWS  VM / ECS" alone says nothing), a list
away from its heading, and a mermaid diagram into noise. Here the text is parsed into *units*
(paragraphs, list items, table rows, diagram edges), each under its heading path:

- a table row is rendered with its column names ("Provider : AWS ; Logique : VM / ECS"), so a
  row retrieved alone still says what its cells mean; markdown and tab-separated tables alike;
- a mermaid diagram becomes arrows between its labels ("Monitoring → Model Drift ?");
- markdown noise a small model would copy (``**``, backticks, ``<hr>``, images) is dropped;
- numbered plain-text section titles ("6. Multi-Cloud") count as headings.

Units are then packed, in order and never split, into passages of at most ``chunk_size``
characters within one section; small sibling sections share a passage, each unit prefixed with its
own title. ``contextual_text`` prepends the document title and heading path to what is embedded and
BM25-indexed: a passage that never names its topic is still found by it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^\s*(?:[-+*]\s+)?(#{1,6})\s+(.+?)\s*#*\s*$")
_NUMBERED_TITLE = re.compile(r"^(\d{1,2})\.\s+(\S[^.:;!?]{1,70})$")
_LIST_ITEM = re.compile(r"^(\s*)([-+*]|\d{1,2}[.)])\s+(.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_HTML_LINE = re.compile(r"^\s*(<[^>]+>\s*)+$")
_HTML = re.compile(r"<[^>]+>")
_SEPARATOR = re.compile(r"^\s*(-{3,}|\*{3,}|_{3,})\s*$")
_EMPHASIS = re.compile(r"(\*\*|__|`)")
_MERMAID_NODE = re.compile(r"([A-Za-z0-9_]+)\s*(?:\[([^\]]*)\]|\{([^}]*)\}|\(([^)]*)\))")
_MERMAID_EDGE = re.compile(r"^\s*(.+?)\s*(?:--\s*(.+?)\s*-->|-->|---|==>)\s*(?:\|([^|]*)\|\s*)?(.+?)\s*$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý0-9«\"(])")


@dataclass(frozen=True)
class Unit:
    """The smallest piece of a document that keeps its meaning: never split across passages."""

    heading: tuple[str, ...]
    text: str
    kind: str  # "text", "item", "row", "diagram"


@dataclass(frozen=True)
class Passage:
    heading: str  # "Title > Section > Subsection"
    text: str


def clean_inline(text: str) -> str:
    """Markdown emphasis, inline code and HTML tags out; spaces collapsed."""
    return " ".join(_HTML.sub(" ", _EMPHASIS.sub("", text)).split())


def document_title(text: str, fallback: str) -> str:
    """The first level-1 heading, else the first heading, else the opening words of the text."""
    headings = [(len(m.group(1)), clean_inline(m.group(2))) for m in map(_HEADING.match, text.splitlines()) if m]
    for level, title in headings:
        if level == 1 and title:
            return title
    if headings and headings[0][1]:
        return headings[0][1]
    first = next((clean_inline(line) for line in text.splitlines() if clean_inline(line)), "")
    if not first:
        return fallback
    words = first.split()
    title = " ".join(words[:8])
    return title if len(words) <= 8 else title.rstrip(",;:") + "…"


# ---------------------------------------------------------------- parsing


def _table_cells(line: str) -> list[str]:
    if "\t" in line and "|" not in line:
        return [clean_inline(c) for c in line.split("\t")]
    return [clean_inline(c) for c in line.strip().strip("|").split("|")]


def _is_table_line(line: str) -> bool:
    stripped = line.strip()
    return (stripped.startswith("|") and stripped.count("|") >= 2) or ("\t" in stripped and "|" not in stripped)


def render_rows(lines: list[str]) -> list[str]:
    """Table lines (header first) -> one self-describing line per data row."""
    rows = [_table_cells(line) for line in lines if not _TABLE_RULE.match(line)]
    if len(rows) < 2:
        return [ROW_SEPARATOR.join(c for c in rows[0] if c)] if rows else []
    header, data = rows[0], rows[1:]
    rendered = []
    for row in data:
        pairs = [f"{name} : {value}" if name else value for name, value in zip(header, row, strict=False) if value]
        rendered.append(ROW_SEPARATOR.join(pairs))
    return rendered


_ROW_CELL = re.compile(r"^\s*([^:;]{1,60}?)\s*:\s*(.+?)\s*$")
ROW_SEPARATOR = " ; "


def row_cells(line: str) -> list[tuple[str, str]] | None:
    """(label, value) of each cell of a row as ``render_rows`` writes it (``Label : value ; Label : value``);
    None for any other line."""
    parts = line.split(ROW_SEPARATOR)
    if len(parts) < 2:
        return None
    cells = []
    for part in parts:
        match = _ROW_CELL.match(part)
        if not match:
            return None
        cells.append((match.group(1), match.group(2)))
    return cells


def render_mermaid(lines: list[str]) -> list[str]:
    """A mermaid graph -> chains of arrows between node labels, a labelled edge on its own line."""
    labels: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    for line in lines:
        for node_id, *texts in _MERMAID_NODE.findall(line):
            label = next((t for t in texts if t), "")
            if label:
                labels.setdefault(node_id, clean_inline(label))
        match = _MERMAID_EDGE.match(line)
        if match and not line.strip().startswith(("graph", "flowchart")):
            source, label, pipe_label, target = match.groups()
            source_id = _MERMAID_NODE.match(source.strip())
            target_id = _MERMAID_NODE.match(target.strip())
            a = source_id.group(1) if source_id else source.strip()
            b = target_id.group(1) if target_id else target.strip()
            edges.append((a, b, clean_inline(label or pipe_label or "")))
    out: list[str] = []
    chain: list[str] = []
    for a, b, label in edges:
        name_a, name_b = labels.get(a, a), labels.get(b, b)
        if label:
            out.append(f"{name_a} — {label} → {name_b}")
            continue
        if chain and chain[-1] == name_a:
            chain.append(name_b)
        else:
            if len(chain) > 1:
                out.append(" → ".join(chain))
            chain = [name_a, name_b]
    if len(chain) > 1:
        out.append(" → ".join(chain))
    # chains first, then the labelled branches (they read as the diagram's decisions)
    return ["Schéma : " + line for line in sorted(out, key=lambda s: " — " in s)]


def parse_units(text: str) -> list[Unit]:
    """The document as units under their heading paths (see the module docstring)."""
    units: list[Unit] = []
    stack: list[tuple[int, str]] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    paragraph: list[str] = []
    item: list[str] = []
    markdown_level = 0  # deepest markdown heading level seen: numbered titles become its siblings

    def heading() -> tuple[str, ...]:
        return tuple(title for _, title in stack)

    def emit(kind: str, parts: list[str]) -> None:
        body = clean_inline(" ".join(p.strip() for p in parts))
        if body:
            units.append(Unit(heading(), body, kind))
        parts.clear()

    def flush() -> None:
        emit("text", paragraph)
        emit("item", item)

    def push(level: int, title: str) -> None:
        while stack and stack[-1][0] >= level:
            stack.pop()
        if title:
            stack.append((level, title))

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            fence = stripped[3:].strip().lower()
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            rendered = render_mermaid(body) if fence == "mermaid" else [clean_inline(b) for b in body if b.strip()]
            units.extend(Unit(heading(), r, "diagram" if fence == "mermaid" else "text") for r in rendered if r)
            i += 1
            continue
        heading_match = _HEADING.match(line)
        numbered = _NUMBERED_TITLE.match(stripped)
        if heading_match:
            flush()
            level = len(heading_match.group(1))
            markdown_level = max(markdown_level, level)
            push(level, clean_inline(heading_match.group(2)))
        elif numbered and _blank(lines, i - 1) and _blank(lines, i + 1):
            flush()
            push(max(markdown_level, 1), clean_inline(stripped))
        elif _is_table_line(line):
            flush()
            table = []
            while i < len(lines) and (_is_table_line(lines[i]) or (not lines[i].strip() and _next_is_table(lines, i))):
                if lines[i].strip():
                    table.append(lines[i])
                i += 1
            units.extend(Unit(heading(), row, "row") for row in render_rows(table) if row)
            continue
        elif not stripped or _SEPARATOR.match(line) or _HTML_LINE.match(line):
            flush()
        elif stripped.startswith(">"):
            flush()
            paragraph.append(stripped.lstrip("> "))
            flush()
        else:
            list_match = _LIST_ITEM.match(line)
            if list_match:
                flush()
                item.append(list_match.group(3))
            elif item:
                item.append(stripped)  # continuation of the item
            else:
                paragraph.append(stripped)
        i += 1
    flush()
    return _mark_bare_lists(units)


def _mark_bare_lists(units: list[Unit]) -> list[Unit]:
    """Short lines after an introducing colon are list items even without a bullet ("On a appris à :")."""
    out: list[Unit] = []
    in_list = False
    for unit in units:
        bare = unit.kind == "text" and len(unit.text) <= 80 and not unit.text.endswith((".", "!", "?", ":"))
        if in_list and bare and out and unit.heading == out[-1].heading:
            out.append(Unit(unit.heading, unit.text, "item"))
            continue
        in_list = unit.kind == "text" and unit.text.endswith(":")
        out.append(unit)
    return out


def _blank(lines: list[str], index: int) -> bool:
    return index < 0 or index >= len(lines) or not lines[index].strip()


def _next_is_table(lines: list[str], index: int) -> bool:
    following = next((line for line in lines[index + 1 :] if line.strip()), "")
    return _is_table_line(following)


# ---------------------------------------------------------------- packing


def split_long(text: str, size: int) -> list[str]:
    """A unit longer than a passage, cut at sentence ends (a sentence longer than that, at words)."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE.split(text):
        while len(sentence) > size:
            cut = sentence.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            pieces.append((current + " " + sentence[:cut]).strip() if current else sentence[:cut])
            current, sentence = "", sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > size:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces


@dataclass
class _Section:
    heading: tuple[str, ...]
    units: list[Unit]

    def size(self) -> int:
        return sum(len(u.text) + 3 for u in self.units)


def _sections(units: list[Unit]) -> list[_Section]:
    sections: list[_Section] = []
    for unit in units:
        if sections and sections[-1].heading == unit.heading:
            sections[-1].units.append(unit)
        else:
            sections.append(_Section(unit.heading, [unit]))
    return sections


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        out.append(x)
    return tuple(out)


def _groups(sections: list[_Section], min_size: int, max_size: int) -> list[tuple[tuple[str, ...], list[_Section]]]:
    """Consecutive small sibling sections share one group under their parent's heading path."""
    groups: list[tuple[tuple[str, ...], list[_Section]]] = []
    for section in sections:
        if groups:
            path, members = groups[-1]
            parent = _common(path, section.heading)
            siblings = len(parent) >= max(len(path), len(section.heading)) - 1 and len(parent) >= 1
            small = section.size() < min_size and sum(m.size() for m in members) < min_size
            if siblings and small and sum(m.size() for m in members) + section.size() <= max_size:
                groups[-1] = (parent, [*members, section])
                continue
        groups.append((section.heading, [section]))
    return groups


def _render(unit: Unit) -> str:
    return f"- {unit.text}" if unit.kind in ("item", "row") else unit.text


def pack(units: list[Unit], title: str, chunk_size: int, min_section: int = 250) -> list[Passage]:
    """Units in order into passages of at most ``chunk_size`` characters; a unit is never split unless alone too long.

    Small sibling sections are grouped under their parent's path, each introduced by its own title
    line; a subsection cut across two passages repeats its title line, so list items and table rows
    always travel with the heading that says what they are.
    """
    passages: list[Passage] = []
    for path, members in _groups(_sections(units), min_section, chunk_size):
        heading = _heading_path(title, path)
        passages += [Passage(heading, "\n".join(lines)) for lines in _pack_group(path, members, chunk_size)]
    return passages


def _pack_group(path: tuple[str, ...], members: list[_Section], chunk_size: int) -> list[list[str]]:
    """The lines of each passage of one group."""
    out: list[list[str]] = [[]]
    size = 0
    for section in members:
        subtitle = " > ".join(section.heading[len(path) :])
        for index, unit in enumerate(section.units):
            for piece in split_long(unit.text, chunk_size) if len(unit.text) > chunk_size else [unit.text]:
                line = _render(Unit(unit.heading, piece, unit.kind))
                header = [subtitle] if subtitle and (index == 0 or not out[-1]) else []
                if out[-1] and size + sum(len(x) + 1 for x in [*header, line]) > chunk_size:
                    out.append([])
                    size = 0
                    header = [subtitle] if subtitle else []
                out[-1].extend([*header, line])
                size += sum(len(x) + 1 for x in [*header, line])
    return [lines for lines in out if lines]


def _heading_path(title: str, section: tuple[str, ...]) -> str:
    parts = [p for p in section if p]
    if parts and parts[0] == title:
        parts = parts[1:]
    return " > ".join(parts)


def chunk_document(
    text: str, fallback_title: str, chunk_size: int, min_section: int = 250
) -> tuple[str, list[Passage]]:
    """(document title, passages): the whole pipeline of this module."""
    title = document_title(text, fallback_title)
    return title, pack(parse_units(text), title, chunk_size, min_section)


def contextual_text(title: str, heading: str, text: str) -> str:
    """What is embedded and BM25-indexed: the passage under its document title and heading path."""
    path = " > ".join(p for p in (title, heading) if p)
    return f"{path}\n\n{text}" if path else text


def is_subtitle(line: str) -> bool:
    """A sub-section title line inside a passage (see ``pack``): short, no bullet, no sentence end."""
    return bool(line) and not line.startswith("- ") and len(line) <= 80 and not line.rstrip().endswith((".", ":", "!"))


def passage_units(text: str, intro_titles: bool = False) -> list[tuple[str, str]]:
    """(sub-title, line) for every content line of a passage: each item or row with the title it sits under.

    ``intro_titles``: a title followed by an intro line and a list ("3. MLflow – Tracking & Monitoring", "On a
    appris :", "- Comprendre le suivi des expériences") is the items' sub-title too. The answer guard reads
    passages so (which lines stand together, what an extractive answer quotes); the model's context and the
    indexed lines do not: shown to the 1.5B model, it lowered the dev split's fact recall (0.593 -> 0.552 raw,
    docs/benchmarks.md), and indexed, retrieval's hit@5 (0.935 -> 0.925).
    """
    out: list[tuple[str, str]] = []
    subtitle = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        following = lines[index + 1 : index + 3] if intro_titles else lines[index + 1 : index + 2]
        if is_subtitle(line) and _opens_list(following):
            subtitle = line
            continue
        out.append((subtitle, line[2:] if line.startswith("- ") else line))
    return out


def _opens_list(following: list[str]) -> bool:
    """The lines after a title start a list, at once or after an intro ("3. MLflow – Tracking & Monitoring",
    "On a appris :", "- Lancer un MLflow server"): the items then belong to that title, which says what they are."""
    if not following:
        return False
    if following[0].startswith("- "):
        return True
    return following[0].endswith(":") and len(following) > 1 and following[1].startswith("- ")


def bullet_lines(text: str) -> set[str]:
    """The contents of a passage's list items and table rows (its lines written "- ...")."""
    return {line.strip()[2:] for line in text.splitlines() if line.strip().startswith("- ")}
