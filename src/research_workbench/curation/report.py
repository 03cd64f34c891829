"""The curation report: what every rule did to every table, participants per tier, and a waterfall from the
raw CDR to each tier. Written as ``report.json`` and a readable ``report.html`` (template ``report.html.tmpl``)."""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from ..cdr.model import cdm
from ..cdr.store import Cdr
from .config import CurationConfig
from .engine import RuleEffect


def _rows(counts: dict[str, int]) -> int:
    return sum(n for t, n in counts.items() if not cdm().table(t).is_vocabulary)


def build_report(
    *,
    release: str,
    raw: Cdr,
    raw_manifest_sha: str,
    config: CurationConfig,
    raw_counts: dict[str, int],
    clean_counts: dict[str, int],
    tier_counts: dict[str, dict[str, int]],
    effects: list[RuleEffect],
    sandbox_files: dict[str, dict[str, int]],
    new_ids: dict[str, int],
    sandbox: str = "",
    residual_risk: dict[str, Any] | None = None,
) -> dict[str, Any]:
    tiers: dict[str, Any] = {}
    waterfall: dict[str, list[dict[str, Any]]] = {}
    balanced = True
    for tier, counts in tier_counts.items():
        steps = [{"step": "raw", "stage": "raw", "persons": raw_counts.get("person", 0), "rows": _rows(raw_counts)}]
        ledger: dict[str, dict[str, int]] = {t: {"raw": n, "removed": 0, "added": 0} for t, n in raw_counts.items()}
        for e in effects:
            if e.scope not in ("clean", tier):
                continue
            steps.append({"step": e.rule.name, "stage": e.rule.stage.value, "persons": e.persons_after, "rows": e.rows_after})
            for t, v in e.tables.items():
                ledger[t]["removed"] += v.removed
                ledger[t]["added"] += v.added
        tables = {}
        for t, entry in sorted(ledger.items()):
            expected = entry["raw"] + entry["added"] - entry["removed"]
            ok = expected == counts[t]
            balanced &= ok
            if entry["raw"] or counts[t]:
                tables[t] = {**entry, "final": counts[t], "balances": ok}
        tiers[tier] = {"persons": counts.get("person", 0), "rows": _rows(counts), "tables": tables}
        waterfall[tier] = steps
    return {
        "release": release,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "raw": {"path": str(raw.path.resolve()), "manifest_sha256": raw_manifest_sha, "persons": raw_counts.get("person", 0), "rows": _rows(raw_counts), "vocabulary_version": raw.manifest.vocabulary_version},
        "after_clean": {"persons": clean_counts.get("person", 0), "rows": _rows(clean_counts)},
        "config_sha256": config.digest(),
        "cutoff_date": config.effective_cutoff().isoformat(),
        "balanced": balanced,
        "rules": [e.as_dict() for e in effects],
        "tiers": tiers,
        "waterfall": waterfall,
        "sandbox": f"steward-only, in the private area: {sandbox}",
        "sandbox_files": sandbox_files,
        "new_private_ids": new_ids,
        "residual_risk": residual_risk or {},
    }


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(f'{c:,}' if isinstance(c, int) and not isinstance(c, bool) else str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict[str, Any]) -> str:
    template = Template(resources.files(__package__).joinpath("report.html.tmpl").read_text(encoding="utf-8"))
    tiers = _table(["tier", "participants", "rows"], [[t, v["persons"], v["rows"]] for t, v in report["tiers"].items()])
    waterfalls = []
    for tier, steps in report["waterfall"].items():
        rows, prev = [], None
        for s in steps:
            dp = "" if prev is None else s["persons"] - prev["persons"]
            dr = "" if prev is None else s["rows"] - prev["rows"]
            if prev is None or dp or dr:
                rows.append([s["stage"], s["step"], s["persons"], dp, s["rows"], dr])
            prev = s
        waterfalls.append(f"<h3>{html.escape(tier)}</h3>" + _table(["stage", "step", "participants", "Δ participants", "rows", "Δ rows"], rows))
    rule_rows = []
    for r in report["rules"]:
        if not r["tables"]:
            rule_rows.append([r["scope"], r["name"], "—", 0, 0, 0, 0])
        for t, v in r["tables"].items():
            rule_rows.append([r["scope"], r["name"], t, v["removed"], v["changed"], v["added"], v["remapped"]])
    risk = _risk_html(report.get("residual_risk") or {})
    descriptions = _table(["rule", "stage", "tiers", "description"], [[r["name"], r["stage"], ", ".join(r["tiers"]), r["description"]] for r in report["rules"] if r["scope"] != "controlled" or "registered" not in r["tiers"]])
    return template.substitute(
        release=html.escape(report["release"]),
        created_at=html.escape(report["created_at"]),
        raw_path=html.escape(report["raw"]["path"]),
        raw_sha=html.escape(report["raw"]["manifest_sha256"]),
        cutoff=html.escape(report["cutoff_date"]),
        balanced="yes" if report["balanced"] else "NO",
        raw_persons=f"{report['raw']['persons']:,}",
        raw_rows=f"{report['raw']['rows']:,}",
        tiers=tiers,
        waterfalls="".join(waterfalls),
        rules=_table(["scope", "rule", "table", "removed", "changed", "added", "remapped"], rule_rows),
        descriptions=descriptions,
        risk=risk,
    )


def _risk_html(risk: dict[str, Any]) -> str:
    if not risk:
        return "<p>Not computed.</p>"
    demo = risk["demographics_only"]
    intro = (
        f"<p>Participants who are the only one with their {html.escape(', '.join(risk['quasi_identifiers']))}: "
        f"<strong>{risk['unique']:,} of {risk['participants']:,} ({risk['unique_share']:.2%})</strong>; "
        f"with the demographics alone: {demo['unique']:,} ({demo['unique_share']:.2%}). An outsider who knows these facts "
        "about a participant finds them alone in their class. Dates are shifted per participant and are not counted.</p>"
    )
    rows = [[b["size"], b["classes"], b["participants"], f"{b['share']:.2%}", d["classes"], d["participants"], f"{d['share']:.2%}"]
            for b, d in zip(risk["class_sizes"], demo["class_sizes"])]
    return intro + _table(["class size", "classes", "participants", "share", "classes (demographics only)", "participants", "share"], rows)


def write_report(report: dict[str, Any], directory: Path) -> None:
    (directory / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (directory / "report.html").write_text(render_html(report), encoding="utf-8")
