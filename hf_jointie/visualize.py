"""See what a model found: a self-contained HTML view of entities and relations, and an export to spaCy.

`render_html(text, prediction)` draws each text as SVG: entities get a tint behind their words and, below the line,
a bar of their exact extent with a type tag (nested entities take separate bar levels, so every one stays visible;
a discontinuous entity's fragments are joined by a dashed line at one level); relations are arcs above the line from
head to tail, labelled with type and score (an arrow marks the tail); a relation table and an entity list follow for
reading. No scripts, fonts or URLs are fetched: inline CSS and SVG only, so the file opens anywhere and is safe to
share; hovering an entity or arc shows its details through SVG `<title>` tooltips.

Layout is computed here, not in the browser (there is no script to measure text): words are placed with the advance
widths of Arial / Helvetica / Liberation Sans (metric-compatible fonts, listed first in the CSS font stack; the
table was measured in Chromium at 1000 px) and each word carries `textLength`, so a fallback font of other metrics
is squeezed to the computed box instead of overlapping its neighbours. Lines wrap at `LINE_WIDTH` pixels, never inside
an entity fragment of up to 80 characters; a newline in the text starts a new line. Bar and arc levels
are assigned greedily (shortest first, lowest free level) over intervals that include their labels, so no two labels
on one level overlap. An arc between entities on different lines is drawn as two halves running to the edge of the
view; each half carries the label.

`to_spacy` turns a prediction into a `spacy.tokens.Doc` (spaCy is an optional extra: `pip install hf_jointie[spacy]`).
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

#: Advance widths (1/1000 em) of the printable ASCII characters 32..126 in Arial / Liberation Sans (regular).
_ASCII_WIDTHS = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667,
    556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556,
    556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722,
    500, 500, 500, 334, 260, 334, 584,
]
#: Entity type colours (Tableau 10, then a second row of tones), assigned to the sorted type names.
ENTITY_PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
                  "#9c755f", "#bab0ac", "#86bcb6", "#d37295", "#8cd17d", "#b6992d", "#499894", "#a0cbe8"]
#: Relation type colours: darker than the entity colours so arcs never read as entity bars.
RELATION_PALETTE = ["#1f3a93", "#a23b00", "#1b6e20", "#7b1fa2", "#00695c", "#5d4037", "#ad1457", "#37474f",
                    "#827717", "#283593"]

LINE_WIDTH = 900  # px of text per line before wrapping
FONT_SIZE = 16  # px, the text
TAG_SIZE = 11  # px, entity tags and arc labels
_MARGIN = 12  # px left and right of the lines
_ARC_LEVEL = 18  # px between arc levels
_BAR_LEVEL = 20  # px between entity bar levels (3 px bar + 14 px tag + gap)
_COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]+|(rgb|hsl)a?\([0-9.,%\s]+\))$")

_CSS = """
.hfj { font-family: Arial, Helvetica, "Liberation Sans", "Helvetica Neue", sans-serif; color: #1d1d1f;
  line-height: 1.4; max-width: %(width)dpx; }
.hfj h1 { font-size: 20px; margin: 8px 0; }
.hfj h2 { font-size: 15px; margin: 18px 0 4px; color: #555; font-weight: normal; }
.hfj .hfj-legend { display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 13px; margin: 6px 0 10px; }
.hfj .hfj-key { display: inline-flex; align-items: center; gap: 5px; }
.hfj .hfj-swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px; }
.hfj .hfj-line { display: inline-block; width: 18px; height: 0; border-top: 2px solid; }
.hfj svg { display: block; max-width: 100%%; height: auto; }
.hfj svg text { font-kerning: none; }
.hfj .hfj-word { font-size: %(font)dpx; fill: #1d1d1f; }
.hfj .hfj-tag, .hfj .hfj-label { font-size: %(tag)dpx; }
.hfj table { border-collapse: collapse; font-size: 13px; margin: 6px 0 4px; }
.hfj th, .hfj td { text-align: left; padding: 3px 10px 3px 0; border-bottom: 1px solid #e5e5e5; vertical-align: top; }
.hfj th { color: #555; font-weight: 600; }
.hfj td.hfj-num { text-align: right; font-variant-numeric: tabular-nums; }
.hfj .hfj-chip { border-left: 4px solid; padding: 0 4px; background: #f6f6f6; }
.hfj .hfj-type { color: #666; font-size: 12px; }
.hfj details { font-size: 13px; margin: 4px 0 8px; }
.hfj .hfj-none { color: #777; font-size: 13px; }
"""


@dataclass
class _Entity:
    index: int
    key: Any  # the `id` relations use (the entity's "id", else its position)
    type: str
    score: float | None
    fragments: list[tuple[int, int]]  # character offsets into the displayed text

    def text(self, text: str) -> str:
        return " ".join(text[s:e] for s, e in self.fragments)


@dataclass
class _Relation:
    head: int  # entity indices
    tail: int
    type: str
    score: float | None


@dataclass
class _Document:
    text: str
    entities: list[_Entity]
    relations: list[_Relation]
    token_offsets: list[tuple[int, int]] | None = None  # set for {"tokens": [...]} input


def _score(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} has a non-numeric score {value!r}.")
    return float(value)


def _normalize(source: Any, prediction: Any) -> _Document:
    """Validate one (input, prediction) pair and express every offset in characters of the displayed text."""
    if isinstance(source, dict):
        tokens = source.get("tokens")
        if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) and t for t in tokens):
            raise ValueError("A pre-tokenized input must be {'tokens': [non-empty strings]}.")
        starts = [sum(len(t) + 1 for t in tokens[:i]) for i in range(len(tokens))]
        token_offsets = [(s, s + len(t)) for s, t in zip(starts, tokens)]
        text, limit = " ".join(tokens), len(tokens)
    elif isinstance(source, str):
        text, limit, token_offsets = source, len(source), None
    else:
        raise TypeError(f"render_html cannot read an input of type {type(source).__name__}; pass text or {{'tokens'}}.")
    if not isinstance(prediction, dict) or not isinstance(prediction.get("entities", []), list):
        raise TypeError("A prediction must be a dict {'entities': [...], 'relations': [...]} as the pipeline returns.")
    unit = "token" if token_offsets else "character"
    entities, keys = [], {}
    for i, entity in enumerate(prediction.get("entities", [])):
        where = f"entity {i}"
        if not isinstance(entity, dict) or not isinstance(entity.get("type"), str):
            raise ValueError(f"{where} must be a dict with a string 'type', got {entity!r}.")
        spans = entity.get("fragments") or [[entity.get("start"), entity.get("end")]]
        for span in spans:
            if (len(span) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in span)
                    or not 0 <= span[0] < span[1] <= limit):
                raise ValueError(f"{where} has span {list(span)!r} outside the {limit} {unit}s of its input.")
        if token_offsets:
            fragments = [(token_offsets[s][0], token_offsets[e - 1][1]) for s, e in spans]
        else:
            fragments = [(s, e) for s, e in spans]
            if "text" in entity and entity["text"] != text[fragments[0][0] : fragments[-1][1]]:
                raise ValueError(
                    f"{where}'s text {entity['text']!r} is not text[{fragments[0][0]}:{fragments[-1][1]}] = "
                    f"{text[fragments[0][0]:fragments[-1][1]]!r}; token-offset predictions need the "
                    "{'tokens': [...]} input they were made from."
                )
        key = entity.get("id", i)
        keys[key] = i
        entities.append(_Entity(i, key, entity["type"], _score(entity.get("score"), where), sorted(fragments)))
    relations = []
    for i, relation in enumerate(prediction.get("relations", []) or []):
        if not isinstance(relation, dict) or not isinstance(relation.get("type"), str):
            raise ValueError(f"relation {i} must be a dict with a string 'type', got {relation!r}.")
        for role in ("head", "tail"):
            if relation.get(role) not in keys:
                raise ValueError(f"relation {i}'s {role} {relation.get(role)!r} names no entity of its prediction.")
        relations.append(_Relation(keys[relation["head"]], keys[relation["tail"]], relation["type"],
                                   _score(relation.get("score"), f"relation {i}")))
    return _Document(text, entities, relations, token_offsets)


def _pairs(text_or_texts: Any, predictions: Any) -> list[tuple[Any, Any]]:
    if isinstance(text_or_texts, (str, dict)):
        if isinstance(predictions, list) and len(predictions) == 1:
            predictions = predictions[0]
        return [(text_or_texts, predictions)]
    if not isinstance(text_or_texts, (list, tuple)) or not text_or_texts:
        raise TypeError("Pass a text, a {'tokens': [...]} dict, or a non-empty list of those; got "
                        f"{type(text_or_texts).__name__}.")
    if not isinstance(predictions, (list, tuple)) or len(predictions) != len(text_or_texts):
        got = len(predictions) if isinstance(predictions, (list, tuple)) else type(predictions).__name__
        raise ValueError(f"{len(text_or_texts)} inputs need as many predictions, got {got}.")
    return list(zip(text_or_texts, predictions))


def text_width(text: str, size: float) -> float:
    """Width in px of `text` at font size `size` in an Arial-metric font (wide East Asian characters count 1 em,
    combining marks 0, other non-ASCII characters an average 0.556 em)."""
    total = 0
    for char in text:
        code = ord(char)
        if 32 <= code < 127:
            total += _ASCII_WIDTHS[code - 32]
        elif unicodedata.combining(char):
            continue
        else:
            total += 1000 if unicodedata.east_asian_width(char) in "WF" else 556
    return total * size / 1000


def _colors(types: Iterable[str], palette: list[str], overrides: dict[str, str]) -> dict[str, str]:
    return {name: overrides.get(name, palette[i % len(palette)]) for i, name in enumerate(sorted(set(types)))}


def _ink(color: str) -> str:
    """Black or white, whichever reads better on `color` (hex colours; named colours get black)."""
    digits = color.lstrip("#")
    if not color.startswith("#") or len(digits) not in (3, 6):
        return "#000"
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"


def _levels(intervals: list[tuple[float, float]]) -> tuple[list[int], int]:
    """Give each interval the lowest level where it overlaps no interval already placed, shortest first."""
    levels = [0] * len(intervals)
    placed: list[list[tuple[float, float]]] = []
    for i in sorted(range(len(intervals)), key=lambda i: (intervals[i][1] - intervals[i][0], intervals[i][0])):
        a, b = intervals[i]
        level = next((k for k, row in enumerate(placed) if all(b <= c or d <= a for c, d in row)), len(placed))
        if level == len(placed):
            placed.append([])
        placed[level].append((a, b))
        levels[i] = level
    return levels, len(placed)


@dataclass
class _Line:
    words: list[tuple[int, int, float]] = field(default_factory=list)  # (char start, char end, x)
    entity_pieces: list[dict] = field(default_factory=list)
    arc_pieces: list[dict] = field(default_factory=list)


def _layout_words(doc: _Document) -> tuple[list[_Line], dict[int, tuple[int, float, float]]]:
    """Split the text into words (whitespace runs cut further at every entity boundary) and wrap them into lines.
    Returns the lines and, per word start offset, (line, x0, x1)."""
    text = doc.text
    cuts = {s for e in doc.entities for f in e.fragments for s in f}
    words = []
    for match in re.finditer(r"\S+", text):
        points = sorted({match.start(), match.end(), *(c for c in cuts if match.start() < c < match.end())})
        words.extend(zip(points, points[1:]))
    inside = [(s, e) for entity in doc.entities for s, e in entity.fragments]
    lines, place, x = [_Line()], {}, 0.0
    space = text_width(" ", FONT_SIZE)

    def unit_end(i: int) -> int:
        """Index after the last word that must stay on one line with word i (no space, or inside one fragment)."""
        j = i + 1
        while j < len(words) and (words[j][0] == words[j - 1][1] or any(
                s < words[j - 1][1] and words[j][0] < e for s, e in inside if e - s <= 80)):
            j += 1
        return j

    i = 0
    while i < len(words):
        j = unit_end(i)
        gap = text[words[i - 1][1] : words[i][0]] if i else ""
        width = text_width(text[words[i][0] : words[j - 1][1]], FONT_SIZE)
        start_x = x + (space if x and gap else 0)
        if "\n" in gap or (x and start_x + width > LINE_WIDTH):
            lines.append(_Line())
            start_x = 0.0
        if width > LINE_WIDTH and j > i + 1:  # a fragment longer than a line: place word by word
            j = i + 1
        for k in range(i, j):
            if k > i and words[k][0] > words[k - 1][1]:
                start_x += space
            w = text_width(text[words[k][0] : words[k][1]], FONT_SIZE)
            lines[-1].words.append((words[k][0], words[k][1], start_x))
            place[words[k][0]] = (len(lines) - 1, start_x, start_x + w)
            start_x += w
        x = start_x
        i = j
    return lines, place


def _segments(entity: _Entity, words: list[tuple[int, int]], place: dict) -> list[tuple[int, float, float]]:
    """(line, x0, x1) of every fragment, one per line a fragment's words are on."""
    out = []
    for s, e in entity.fragments:
        first = len(out)
        for ws, we in words:
            if s <= ws and we <= e:
                line, x0, x1 = place[ws]
                if len(out) > first and out[-1][0] == line:
                    out[-1] = (line, out[-1][1], x1)
                else:
                    out.append((line, x0, x1))
    return out


def _svg(doc: _Document, entity_colors: dict[str, str], relation_colors: dict[str, str]) -> str:
    lines, place = _layout_words(doc)
    words = [(s, e) for line in lines for s, e, _ in line.words]
    segments = [_segments(entity, words, place) for entity in doc.entities]
    right = max([LINE_WIDTH] + [x1 for segs in segments for _, _, x1 in segs]) + 2 * _MARGIN
    # entity pieces: one per (entity, line)
    for entity, segs in zip(doc.entities, segments):
        by_line: dict[int, list] = {}
        for line, x0, x1 in segs:
            by_line.setdefault(line, []).append((x0, x1))
        line_ids = sorted(by_line)
        for n, line in enumerate(line_ids):
            parts = by_line[line]
            before, after = n > 0, n < len(line_ids) - 1  # the entity goes on from / onto another line
            tag = f"\u2026{entity.type}" if before else entity.type
            tag_w = text_width(tag, TAG_SIZE) + 8
            start = 0.0 if before else parts[0][0]
            end = right - 2 * _MARGIN if after else parts[-1][1]
            lines[line].entity_pieces.append({"entity": entity, "parts": parts, "tag": tag, "tag_w": tag_w,
                                              "before": before, "after": after,
                                              "span": (start, max(end, parts[0][0] + tag_w) + 4)})
    # arc pieces: one per (relation, line); anchors spread over the first segment of each entity
    anchors: dict[int, list] = {}
    for r, relation in enumerate(doc.relations):
        for role, entity in (("head", relation.head), ("tail", relation.tail)):
            anchors.setdefault(entity, []).append((r, role))
    anchor_x: dict[tuple[int, str], tuple[int, float]] = {}
    for entity, uses in anchors.items():
        line, x0, x1 = segments[entity][0]
        other = {(r, role): segments[doc.relations[r].tail if role == "head" else doc.relations[r].head][0]
                 for r, role in uses}
        uses.sort(key=lambda u: (other[u][0], other[u][1]))
        for k, use in enumerate(uses):
            anchor_x[use] = (line, x0 + (x1 - x0) * (k + 1) / (len(uses) + 1))
    for r, relation in enumerate(doc.relations):
        (hl, hx), (tl, tx) = anchor_x[(r, "head")], anchor_x[(r, "tail")]
        label = relation.type if relation.score is None else f"{relation.type} {relation.score:.2f}"
        label_w = text_width(label, TAG_SIZE) + 8
        edge = right - 2 * _MARGIN
        if hl == tl:
            pieces = [(hl, hx, tx, True, True)]
        else:
            pieces = [(hl, hx, edge if tl > hl else 0.0, True, False), (tl, 0.0 if tl > hl else edge, tx, False, True)]
        for line, a, b, from_head, to_tail in pieces:
            if from_head and to_tail:
                mid = (a + b) / 2
            else:  # half an arc: the label beside its entity's leg, not over it
                offset = (6 + label_w / 2) * (1 if b >= a else -1)
                mid = a + offset if from_head else b - offset
                if not label_w / 2 - _MARGIN + 2 <= mid <= edge + _MARGIN - 2 - label_w / 2:
                    mid = a - offset if from_head else b + offset  # no room towards the edge: the other side
            mid = min(max(mid, label_w / 2 - _MARGIN + 2), edge + _MARGIN - 2 - label_w / 2)  # inside the view
            lo, hi = min(a, b, mid - label_w / 2) - 3, max(a, b, mid + label_w / 2) + 3
            lines[line].arc_pieces.append({"relation": r, "a": a, "b": b, "head_end": from_head, "tail_end": to_tail,
                                           "label": label, "label_w": label_w, "mid": mid, "span": (lo, hi)})
    entity_svg: list[list[str]] = [[] for _ in doc.entities]  # pieces of one entity or relation form one group
    relation_svg: list[list[str]] = [[] for _ in doc.relations]
    words_svg, labels, y = [], [], 6.0
    for line in lines:
        arc_levels, n_arc = _levels([p["span"] for p in line.arc_pieces])
        bar_levels, n_bar = _levels([p["span"] for p in line.entity_pieces])
        text_top = y + (12 + (n_arc - 1) * _ARC_LEVEL + 9 if n_arc else 4)
        baseline = text_top + 13
        text_bottom = baseline + 5
        for piece, level in zip(line.entity_pieces, bar_levels):
            entity_svg[piece["entity"].index].append(_entity_piece(piece, level, text_top, text_bottom, entity_colors))
        for piece, level in zip(line.arc_pieces, arc_levels):
            svg_path, svg_label = _arc_piece(piece, text_top - 12 - level * _ARC_LEVEL, text_top - 2,
                                             relation_colors[doc.relations[piece["relation"]].type])
            relation_svg[piece["relation"]].append(svg_path)
            labels.append(svg_label)
        for s, e, x in line.words:
            word = doc.text[s:e]
            words_svg.append(f'<text class="hfj-word" x="{_MARGIN + x:.1f}" y="{baseline:.1f}" data-start="{s}" '
                        f'textLength="{text_width(word, FONT_SIZE):.1f}" lengthAdjust="spacing">{_esc(word)}</text>')
        y = text_bottom + 4 + n_bar * _BAR_LEVEL + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{right:.0f}" height="{y:.0f}" '
            f'viewBox="0 0 {right:.0f} {y:.0f}" role="img">'
            + "".join(_entity_group(doc, entity, entity_svg[entity.index]) for entity in doc.entities)
            + "".join(_relation_group(doc, r, relation_svg[r]) for r in range(len(doc.relations)))
            + "".join(words_svg) + "".join(labels) + "</svg>")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _entity_group(doc: _Document, entity: _Entity, pieces: list[str]) -> str:
    """One `<g>` per entity (all its lines), with a tooltip."""
    score = "" if entity.score is None else f" ({entity.score:.2f})"
    return (f'<g class="hfj-ent" data-entity="{_esc(entity.key)}" data-type="{_esc(entity.type)}" '
            f'data-text="{_esc(entity.text(doc.text))}"><title>{_esc(entity.type)}: {_esc(entity.text(doc.text))}'
            f'{score}</title>{"".join(pieces)}</g>')


def _relation_group(doc: _Document, r: int, pieces: list[str]) -> str:
    """One `<g>` per relation (both halves of an arc across lines), with a tooltip."""
    relation = doc.relations[r]
    head, tail = doc.entities[relation.head], doc.entities[relation.tail]
    score = "" if relation.score is None else f"{relation.score:.2f}"
    return (f'<g class="hfj-rel" data-relation="{r}" data-head="{_esc(head.key)}" data-tail="{_esc(tail.key)}" '
            f'data-type="{_esc(relation.type)}" data-score="{score}"><title>{_esc(head.text(doc.text))} \u2192 '
            f'{_esc(relation.type)} \u2192 {_esc(tail.text(doc.text))}{f" ({score})" if score else ""}</title>'
            f'{"".join(pieces)}</g>')


def _entity_piece(piece: dict, level: int, text_top: float, text_bottom: float, colors: dict[str, str]) -> str:
    """An entity on one line: a tint behind each fragment, bars of their extent, dashed joins, the type tag."""
    entity, parts = piece["entity"], piece["parts"]
    color = colors[entity.type]
    bar = text_bottom + 2 + level * _BAR_LEVEL
    out = []
    for x0, x1 in parts:
        out.append(f'<rect class="hfj-tint" x="{_MARGIN + x0 - 1:.1f}" y="{text_top - 1:.1f}" width="{x1 - x0 + 2:.1f}" '
                   f'height="{text_bottom - text_top + 2:.1f}" rx="2" fill="{color}" fill-opacity="0.2"/>')
        out.append(f'<rect class="hfj-bar" x="{_MARGIN + x0:.1f}" y="{bar:.1f}" width="{x1 - x0:.1f}" height="3" '
                   f'fill="{color}"/>')
    joins = list(zip([p[1] for p in parts], [p[0] for p in parts[1:]]))
    if piece["before"]:
        joins.insert(0, (0.0, parts[0][0]))
    if piece["after"]:
        joins.append((parts[-1][1], piece["span"][1] - 4))
    for a, b in (join for join in joins if join[1] - join[0] > 1):
        out.append(f'<line class="hfj-join" x1="{_MARGIN + a:.1f}" y1="{bar + 1.5:.1f}" x2="{_MARGIN + b:.1f}" '
                   f'y2="{bar + 1.5:.1f}" stroke="{color}" stroke-width="1.5" stroke-dasharray="3 2"/>')
    x = _MARGIN + parts[0][0]
    out.append(f'<rect x="{x:.1f}" y="{bar + 3:.1f}" width="{piece["tag_w"]:.1f}" height="14" rx="3" fill="{color}"/>'
               f'<text class="hfj-tag" x="{x + 4:.1f}" y="{bar + 13.5:.1f}" fill="{_ink(color)}">{_esc(piece["tag"])}'
               "</text>")
    return "".join(out)


def _arc_piece(piece: dict, top: float, bottom: float, color: str) -> tuple[str, str]:
    """An arc (or half an arc) on one line, and its label (drawn last, over every arc)."""
    a, b = _MARGIN + piece["a"], _MARGIN + piece["b"]
    r = min(5.0, abs(b - a) / 2, (bottom - top) / 2)
    direction = 1 if b >= a else -1
    path = (f"M{a:.1f},{bottom:.1f} " if piece["head_end"] else f"M{a:.1f},{top:.1f} ")
    if piece["head_end"]:
        path += f"L{a:.1f},{top + r:.1f} Q{a:.1f},{top:.1f} {a + direction * r:.1f},{top:.1f} "
    if piece["tail_end"]:
        path += f"L{b - direction * r:.1f},{top:.1f} Q{b:.1f},{top:.1f} {b:.1f},{top + r:.1f} L{b:.1f},{bottom:.1f}"
    else:
        path += f"L{b:.1f},{top:.1f}"
    out = [f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>']
    if piece["tail_end"]:
        out.append(f'<path d="M{b - 4:.1f},{bottom - 6:.1f} L{b + 4:.1f},{bottom - 6:.1f} L{b:.1f},{bottom:.1f} Z" '
                   f'fill="{color}"/>')
    else:  # the arc goes on on another line: a chevron at the edge
        out.append(f'<path d="M{b - direction * 5:.1f},{top - 4:.1f} L{b:.1f},{top:.1f} L{b - direction * 5:.1f},'
                   f'{top + 4:.1f}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    mid = _MARGIN + piece["mid"]
    w = piece["label_w"]
    label = (f'<g class="hfj-rel-label" data-relation="{piece["relation"]}"><rect x="{mid - w / 2:.1f}" '
             f'y="{top - 7:.1f}" width="{w:.1f}" height="14" rx="3" fill="#fff" stroke="{color}" stroke-width="1"/>'
             f'<text class="hfj-label" x="{mid:.1f}" y="{top + 3.5:.1f}" text-anchor="middle" fill="{color}">'
             f'{_esc(piece["label"])}</text></g>')
    return "".join(out), label


def _chip(doc: _Document, entity: _Entity, colors: dict[str, str]) -> str:
    return (f'<span class="hfj-chip" style="border-color:{colors[entity.type]}">{_esc(entity.text(doc.text))}</span> '
            f'<span class="hfj-type">{_esc(entity.type)}</span>')


def _tables(doc: _Document, colors: dict[str, str]) -> str:
    fmt = lambda score: "\u2013" if score is None else f"{score:.2f}"  # noqa: E731
    if doc.relations:
        rows = "".join(
            f'<tr data-relation="{r}"><td class="hfj-num">{r + 1}</td><td>{_chip(doc, doc.entities[rel.head], colors)}'
            f'</td><td>{_esc(rel.type)}</td><td>{_chip(doc, doc.entities[rel.tail], colors)}</td>'
            f'<td class="hfj-num">{fmt(rel.score)}</td></tr>'
            for r, rel in enumerate(doc.relations)
        )
        out = ('<table class="hfj-relations"><thead><tr><th>#</th><th>head</th><th>relation</th><th>tail</th>'
               f"<th>score</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        out = '<p class="hfj-none">No relations.</p>'
    unit = "tokens" if doc.token_offsets else "characters"
    rows = "".join(
        f'<tr data-entity="{_esc(e.key)}"><td class="hfj-num">{_esc(e.key)}</td><td>{_chip(doc, e, colors)}</td>'
        f'<td>{_esc(_offsets(doc, e))}</td><td class="hfj-num">{fmt(e.score)}</td></tr>'
        for e in doc.entities
    )
    return out + (f"<details><summary>{len(doc.entities)} entities</summary><table><thead><tr><th>id</th>"
                  f"<th>entity</th><th>{unit}</th><th>score</th></tr></thead><tbody>{rows}</tbody></table></details>")


def _offsets(doc: _Document, entity: _Entity) -> str:
    if doc.token_offsets is None:
        return ", ".join(f"{s}\u2013{e}" for s, e in entity.fragments)
    starts = {s: i for i, (s, _) in enumerate(doc.token_offsets)}
    ends = {e: i + 1 for i, (_, e) in enumerate(doc.token_offsets)}
    return ", ".join(f"{starts[s]}\u2013{ends[e]}" for s, e in entity.fragments)


def _legend(entity_colors: dict[str, str], relation_colors: dict[str, str]) -> str:
    keys = [f'<span class="hfj-key"><span class="hfj-swatch" style="background:{c}"></span>{_esc(t)}</span>'
            for t, c in entity_colors.items()]
    keys += [f'<span class="hfj-key"><span class="hfj-line" style="border-color:{c}"></span>{_esc(t)}</span>'
             for t, c in relation_colors.items()]
    return f'<div class="hfj-legend">{"".join(keys)}</div>'


def render_fragment(text_or_texts: Any, predictions: Any, *, colors: dict[str, str] | None = None,
                    title: str | None = None) -> str:
    """The view as an HTML `<div>` with its own scoped `<style>` (what notebooks embed); see `render_html`."""
    docs = [_normalize(source, prediction) for source, prediction in _pairs(text_or_texts, predictions)]
    overrides = dict(colors or {})
    for name, value in overrides.items():
        if not isinstance(value, str) or not _COLOR.match(value.strip()):
            raise ValueError(f"colors[{name!r}] = {value!r} is not a CSS colour (#rgb, #rrggbb, a name, rgb(...)).")
    entity_colors = _colors((e.type for d in docs for e in d.entities), ENTITY_PALETTE, overrides)
    relation_colors = _colors((r.type for d in docs for r in d.relations), RELATION_PALETTE, overrides)
    parts = [f"<style>{_CSS % {'width': LINE_WIDTH + 2 * _MARGIN, 'font': FONT_SIZE, 'tag': TAG_SIZE}}</style>"]
    if title:
        parts.append(f"<h1>{_esc(title)}</h1>")
    parts.append(_legend(entity_colors, relation_colors))
    for n, doc in enumerate(docs):
        counts = f"{len(doc.entities)} entities, {len(doc.relations)} relations"
        heading = f"Text {n + 1} of {len(docs)} \u00b7 {counts}" if len(docs) > 1 else counts
        parts.append(f'<section class="hfj-doc"><h2>{heading}</h2>{_svg(doc, entity_colors, relation_colors)}'
                     f"{_tables(doc, entity_colors)}</section>")
    return f'<div class="hfj">{"".join(parts)}</div>'


def render_html(text_or_texts: Any, predictions: Any, *, colors: dict[str, str] | None = None,
                title: str | None = None) -> str:
    """A self-contained HTML document showing the entities and relations of one or more predictions.

    Args:
        text_or_texts: a text, a `{"tokens": [...]}` dict, or a list of those (the pipeline's inputs).
        predictions: the pipeline's result for each input (`{"entities": [...], "relations": [...]}`): offsets in
            characters for text, in tokens for `{"tokens"}` input; `score` optional (gold annotations have none).
        colors: CSS colours by entity or relation type name, overriding the default palette.
        title: a heading for the page (also its `<title>`).
    """
    fragment = render_fragment(text_or_texts, predictions, colors=colors, title=title)
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title or 'hf_jointie predictions')}</title></head>"
            f'<body style="margin:16px;background:#fff">{fragment}</body></html>\n')


def write_html(path: str | Path, text_or_texts: Any, predictions: Any, **kwargs) -> Path:
    """Write `render_html(text_or_texts, predictions, **kwargs)` to `path` (UTF-8) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(text_or_texts, predictions, **kwargs), encoding="utf-8")
    return path


class JointIEView:
    """Pipeline results shown as the HTML view in a notebook: `JointIEView(text, ie(text))` as the last expression
    of a cell (the pipeline's plain dicts stay as they are). `save(path)` writes the standalone page."""

    def __init__(self, text_or_texts: Any, predictions: Any, *, colors: dict[str, str] | None = None,
                 title: str | None = None):
        self._args = (text_or_texts, predictions)
        self._kwargs = {"colors": colors, "title": title}
        self._html = render_fragment(*self._args, **self._kwargs)  # validates now, not at display time

    def _repr_html_(self) -> str:
        return self._html

    def save(self, path: str | Path) -> Path:
        return write_html(path, *self._args, **self._kwargs)


def display(text_or_texts: Any, predictions: Any, **kwargs) -> None:
    """Show the view in a Jupyter / IPython notebook (`IPython.display.display` of a `JointIEView`)."""
    try:
        from IPython.display import display as ipython_display
    except ImportError as error:
        raise ImportError("hf_jointie.visualize.display needs IPython (a notebook); use render_html or "
                          "write_html outside one.") from error
    ipython_display(JointIEView(text_or_texts, predictions, **kwargs))


def to_spacy(text: Any, prediction: dict, nlp_or_vocab: Any):
    """A `spacy.tokens.Doc` holding a prediction, for spaCy pipelines and `displacy.render(doc, style="span")`.

    * Tokens: for text, `nlp.make_doc(text)`'s tokens (or, given a `Vocab`, the pipeline's word split), cut further
      wherever an entity boundary falls inside a token, so every entity is a whole number of tokens; the Doc's text
      equals `text`. For `{"tokens": [...]}` input, those tokens.
    * Entities: `doc.spans["sc"]`, one span per fragment (a discontinuous entity gives several spans of its type),
      scores in `doc.spans["sc"].attrs["scores"]` as spaCy's `spancat` stores them; `doc.ents` holds the contiguous
      entities that `spacy.util.filter_spans` keeps (longest first) where entities overlap.
    * Relations: `doc._.rel[(head.start, tail.start)] = {type: score}`, the convention of spaCy's relation-extraction
      tutorial (`rel_component`); `head.start` is the token index of the entity's first token, so two entities
      starting at one token share a key (their labels are merged, the higher score kept).
    """
    try:
        import spacy
        from spacy.tokens import Doc, Span
    except ImportError as error:
        raise ImportError("to_spacy needs spaCy: pip install 'hf_jointie[spacy]'.") from error
    vocab = getattr(nlp_or_vocab, "vocab", nlp_or_vocab)
    if not isinstance(vocab, spacy.vocab.Vocab):
        raise TypeError(f"to_spacy needs a spaCy Language or Vocab, got {type(nlp_or_vocab).__name__}.")
    doc_data = _normalize(text, prediction)
    if doc_data.token_offsets is not None:
        spans = doc_data.token_offsets
        doc = Doc(vocab, words=text["tokens"])
    else:
        if hasattr(nlp_or_vocab, "make_doc"):
            spans = [(t.idx, t.idx + len(t.text)) for t in nlp_or_vocab.make_doc(text) if not t.is_space]
        else:
            from .pipeline import WORD_PATTERN

            spans = [m.span() for m in WORD_PATTERN.finditer(text)]
        cuts = {c for e in doc_data.entities for f in e.fragments for c in f}
        spans = [piece for s, e in spans for piece in _cut(s, e, cuts)]
        words, spaces = _words_and_spaces(text, spans)
        doc = Doc(vocab, words=words, spaces=spaces)
    token_at = {}
    for token in doc:
        token_at[token.idx] = token.i
        token_at[token.idx + len(token.text)] = token.i + 1
    group, scores, whole = [], [], []
    for entity in doc_data.entities:
        pieces = [Span(doc, token_at[s], token_at[e], label=entity.type) for s, e in entity.fragments]
        group.extend(pieces)
        scores.extend([entity.score] * len(pieces))
        if len(pieces) == 1:
            whole.append(pieces[0])
    doc.spans["sc"] = group
    doc.spans["sc"].attrs["scores"] = scores
    doc.ents = spacy.util.filter_spans(whole)
    if not Doc.has_extension("rel"):
        Doc.set_extension("rel", default={})  # as the tutorial's rel_component registers it
    relations: dict[tuple[int, int], dict[str, float | None]] = {}
    for relation in doc_data.relations:
        key = tuple(token_at[doc_data.entities[i].fragments[0][0]] for i in (relation.head, relation.tail))
        labels = relations.setdefault(key, {})
        previous = labels.get(relation.type)
        if previous is None or (relation.score is not None and relation.score > previous):
            labels[relation.type] = relation.score
    doc._.rel = relations
    return doc


def _cut(start: int, end: int, cuts: set[int]) -> list[tuple[int, int]]:
    points = sorted({start, end, *(c for c in cuts if start < c < end)})
    return list(zip(points, points[1:]))


def _words_and_spaces(text: str, spans: Sequence[tuple[int, int]]) -> tuple[list[str], list[bool]]:
    """spaCy `words` / `spaces` that rebuild `text` exactly: one trailing space folds into `spaces`, any other
    whitespace becomes a whitespace token (as spaCy's tokenizer makes them)."""
    words, spaces = [], []
    if spans and spans[0][0] > 0:
        words.append(text[: spans[0][0]])
        spaces.append(False)
    for n, (s, e) in enumerate(spans):
        gap = text[e : spans[n + 1][0] if n + 1 < len(spans) else len(text)]
        words.append(text[s:e])
        spaces.append(gap.startswith(" "))
        rest = gap[1:] if gap.startswith(" ") else gap
        if rest:
            words.append(rest)
            spaces.append(False)
    return words, spaces
