"""The Data Browser's page templates (``templates/``, on the web foundation's layout) and the helpers they use."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment

from ...web import template_environment
from ..domains import CONCEPT_DOMAIN_SLUGS, DOMAIN_LABELS
from . import charts
from .service import DIMENSION_LABELS

TEMPLATES = Path(__file__).parent / "templates"


def browser_templates() -> Environment:
    env = template_environment(TEMPLATES)
    env.globals.update(
        charts=charts, fmt_number=charts.fmt_number, DOMAIN_LABELS=DOMAIN_LABELS, DIMENSION_LABELS=DIMENSION_LABELS,
        CONCEPT_DOMAINS=CONCEPT_DOMAIN_SLUGS, pairs=pairs, stacked_rows=stacked_rows, histogram_items=histogram_items,
    )
    return env


def pairs(items, label: str = "label", value: str = "participant_count") -> list[tuple[str, int]]:
    """(label, count) pairs for a chart."""
    return [(getattr(i, label), getattr(i, value)) for i in items]


def histogram_items(bins) -> list[tuple[str, int]]:
    """(label, count) per histogram bin; the first and last bins are open-ended."""
    items = []
    for b in bins:
        low, high = charts.fmt_number(b.low), charts.fmt_number(b.high)
        if b.open_low and b.open_high:
            label = "all values"
        elif b.open_low:
            label = f"< {high}"
        elif b.open_high:
            label = f"≥ {low}"
        else:
            label = f"{low}–{high}"
        items.append((label, b.participant_count))
    return items


def stacked_rows(answers, dimension: str) -> list[tuple[str, list[tuple[str, int]]]]:
    """Rows of a stacked chart: per stratum of ``dimension``, each answer's published count (0 when absent)."""
    totals: dict[str, int] = {}
    labels: dict[str, str] = {}
    cells: dict[tuple[str, int], int] = {}
    for a in answers:
        for s in (a.strata or {}).get(dimension, []):
            totals[s.stratum] = totals.get(s.stratum, 0) + s.participant_count
            labels[s.stratum] = s.label
            cells[(s.stratum, a.answer_concept_id)] = s.participant_count

    def order(stratum: str):
        if dimension == "age":
            head = stratum.split("-")[0].rstrip("+")
            return (0, int(head) if head.isdigit() else 999, stratum)
        return (stratum in ("0", "unknown"), -totals[stratum], labels[stratum])

    return [(labels[s], [(a.name, cells.get((s, a.answer_concept_id), 0)) for a in answers]) for s in sorted(totals, key=order)]
