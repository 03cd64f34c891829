"""Limits on cohort definitions, concept sets, saved cohorts and Circe expressions: one place, one name each.

Input past a limit is refused before any work is done, with the JSON path (or line and column) where it was
crossed and the limit's name and value, so the work a definition can cause stays bounded: reading is linear
in the size in bytes, nesting cannot exhaust the Python stack, and compiling is linear in the number of items.
"""

from __future__ import annotations

MAX_DEFINITION_BYTES = 1_000_000
"""Size in bytes of a Cohort Builder definition, concept set or saved-cohort JSON file (1 MB).

The largest realistic definition (hundreds of items, each with a few parameters) is tens of kilobytes."""

MAX_LIBRARY_FILE_BYTES = 8_000_000
"""Size in bytes of a version file in a library (an envelope around content of at most MAX_DEFINITION_BYTES,
written with indentation)."""

MAX_JSON_DEPTH = 32
"""Nesting depth (objects and arrays) of a Cohort Builder definition, concept set or saved cohort.

A valid definition nests 9 deep (includes → group → items → item → searchParameters → parameter → attributes →
attribute → operands); a saved cohort or a library file adds two."""

MAX_ITEMS = 1_000
"""Search group items in one Cohort Builder definition, over all include and exclude groups."""

MAX_SEARCH_PARAMETERS = 10_000
"""Search parameters in one Cohort Builder definition, over all items."""

MAX_TEMPORAL_GROUPS = 2
"""Temporal groups in a temporal search group: items are in group 0 or group 1, and groups do not nest.

(The All of Us request shape has no nesting of temporal groups; ``temporalGroup`` outside 0 and 1 is refused.)"""

MAX_CIRCE_BYTES = 32_000_000
"""Size in bytes of a Circe (ATLAS) cohort expression file (32 MB: ATLAS exports embed every concept's record)."""

MAX_CIRCE_JSON_DEPTH = 128
"""Nesting depth (objects and arrays) of a Circe cohort expression file."""

MAX_CIRCE_GROUP_DEPTH = 16
"""Criteria groups nested inside each other in a Circe expression, through ``Groups`` and through the
``CorrelatedCriteria`` of a criterion. Each level is a further set of temporary tables when executed."""
