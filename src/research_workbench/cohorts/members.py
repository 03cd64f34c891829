"""Who is in a saved cohort, whichever way it was written: a Cohort Builder definition or an OHDSI Circe expression.

A workspace's ``cohort`` resource holds either the All of Us request shape (``builder.model``) or ``{"circe":
<ATLAS cohort expression>}``. Reviews, comparisons and datasets ask the same question of both — which participants —
and get a BitMap of person ids: the builder's from the index's bitmaps (milliseconds), Circe's from the executor over
the data version's CDR (seconds on a large CDR), kept per CDR and expression, so a page that asks twice runs it once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyroaring import BitMap

from .builder.engine import CohortEngine
from .builder.model import parse_definition
from .circe import CirceResult, run_circe

if TYPE_CHECKING:
    from ..engines.base import Engine

CIRCE_KEY = "circe"
_KEPT = 32  # Circe results kept (each holds a cohort's rows)
_kept: OrderedDict[tuple[str, str], CirceResult] = OrderedDict()
_lock = threading.Lock()


def is_circe(content: dict[str, Any]) -> bool:
    return CIRCE_KEY in content


def circe_result(cdr_dir: Path, expression: dict[str, Any], engine: Engine | None = None) -> CirceResult:
    """The Circe executor's result for ``expression`` over the CDR, kept (the CDR of a data version never changes;
    either engine gives the same result). ``engine``: run it there (Spark) rather than embedded."""
    key = (str(Path(cdr_dir).resolve()), hashlib.sha256(json.dumps(expression, sort_keys=True).encode()).hexdigest())
    with _lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key]
    result = run_circe(expression, Path(cdr_dir), engine=engine)
    with _lock:
        _kept[key] = result
        while len(_kept) > _KEPT:
            _kept.popitem(last=False)
    return result


def members(engine: CohortEngine, content: dict[str, Any]) -> BitMap:
    """The person ids of a saved cohort's content (either shape) on the engine's data version."""
    if is_circe(content):
        return BitMap(r.subject_id for r in circe_result(engine.cdr_dir, content[CIRCE_KEY], engine.engine).rows)
    return engine.cohort_persons(parse_definition(content))
