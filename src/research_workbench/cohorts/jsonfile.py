"""Strict reading of JSON input files: every refusal is located, nothing is silently reinterpreted.

Python's ``json`` module is lenient where a cohort definition must not be: a repeated key keeps its last
value, ``NaN`` and ``Infinity`` are accepted (and ``1e999`` becomes infinity), and a deeply nested document
raises ``RecursionError``. Here the standard parser does the parsing, with hooks (``object_pairs_hook``,
``parse_constant``) that record what it would have let through; a walk of the result then names each problem
by its JSON path. Bytes that are not UTF-8 are refused with their byte offset, line and column; a file past
its size limit is refused before it is read.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cdr.problems import ProblemsError

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class JsonProblem:
    """Where (a JSON path, or a line and column when the text itself is at fault) and what."""

    message: str
    path: str | None = None  # e.g. "includes[0].items[2]"
    line: int | None = None
    column: int | None = None
    offset: int | None = None  # byte offset, for bytes that are not UTF-8
    kind: str = ""  # size, encoding, syntax, depth, duplicate_key, constant, range

    def where(self) -> str:
        if self.path is not None:
            return self.path
        if self.offset is not None:
            return f"byte {self.offset} (line {self.line}, column {self.column})"
        if self.line is not None:
            return f"line {self.line}, column {self.column}"
        return ""

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}" if self.where() else self.message

    def as_dict(self) -> dict[str, Any]:
        return {"where": self.where(), "message": self.message, "kind": self.kind}


class JsonInputError(ProblemsError):
    """A JSON input refused; ``problems`` are located (see JsonProblem)."""

    heading = "invalid JSON"
    outcome = "nothing was run."

    def __init__(self, source: str, problems: list[JsonProblem]):
        self.source = source
        super().__init__(problems, f"{source}: " + "; ".join(f"{p.where()}: {p.message}" if p.where() else p.message for p in problems))


class _Constant:
    """What ``parse_constant`` returns for NaN, Infinity and -Infinity: reported by the walk, never used."""

    __slots__ = ("literal",)

    def __init__(self, literal: str):
        self.literal = literal


def json_path(parts: tuple[str | int, ...], root: str) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or root


def _line_column(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _too_deep_at(text: str, max_depth: int) -> int | None:
    """Index of the bracket that opens level ``max_depth + 1`` (strings skipped), for a document json.loads
    could not even parse without exhausting the stack. Linear, and used only then."""
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                return match.start()
        elif token in "]}":
            depth -= 1
    return None


def loads(data: bytes | str, *, source: str, max_bytes: int, max_depth: int, root: str = "(root)",
          limit_names: tuple[str, str] = ("size limit", "depth limit")) -> Any:
    """Decode one JSON document strictly; raises JsonInputError naming where and why.

    ``limit_names`` name the two limits in messages (e.g. the constants in ``cohorts.limits``).
    """
    size_name, depth_name = limit_names
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        message = f"{len(raw):,} bytes, more than the limit of {max_bytes:,} ({size_name})"
        raise JsonInputError(source, [JsonProblem(message, path=root, kind="size")])
    skipped = len(_BOM) if raw.startswith(_BOM) else 0
    try:
        text = raw[skipped:].decode("utf-8")
    except UnicodeDecodeError as err:
        good = raw[skipped:skipped + err.start].decode("utf-8")
        line, column = _line_column(good, len(good))
        raise JsonInputError(source, [JsonProblem(
            f"not UTF-8: byte 0x{raw[skipped + err.start]:02x} ({err.reason})", line=line, column=column,
            offset=skipped + err.start, kind="encoding",
        )]) from None

    # id of an object with repeated keys → (the object, kept alive so that its id is never reused; the keys).
    duplicates: dict[int, tuple[dict, list[str]]] = {}

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            repeated = []
            for key, _ in pairs:
                if key in seen and key not in repeated:
                    repeated.append(key)
                seen.add(key)
            duplicates[id(obj)] = (obj, repeated)
        return obj

    try:
        document = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_Constant)
    except json.JSONDecodeError as err:
        raise JsonInputError(source, [JsonProblem(err.msg, line=err.lineno, column=err.colno, kind="syntax")]) from None
    except RecursionError:
        index = _too_deep_at(text, max_depth)
        line, column = _line_column(text, index or 0)
        problem = JsonProblem(f"nested more than {max_depth} levels deep ({depth_name})", line=line, column=column, kind="depth")
        raise JsonInputError(source, [problem]) from None

    problems: list[JsonProblem] = []
    # Iterative walk (an explicit stack): depth, repeated keys, non-finite numbers, each with its JSON path.
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(document, (), 0)]
    while stack:
        value, parts, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth + 1 > max_depth:
                problems.append(JsonProblem(f"nested more than {max_depth} levels deep ({depth_name})",
                                            path=json_path(parts, root), kind="depth"))
                continue
            if isinstance(value, dict):
                for key in duplicates.get(id(value), (None, []))[1]:
                    problems.append(JsonProblem(f'duplicate key "{key}" (a repeated key is refused, not overwritten)',
                                                path=json_path(parts + (key,), root), kind="duplicate_key"))
                children = [(v, parts + (k,)) for k, v in value.items()]
            else:
                children = [(v, parts + (i,)) for i, v in enumerate(value)]
            stack.extend((v, p, depth + 1) for v, p in reversed(children))
        elif isinstance(value, _Constant):
            problems.append(JsonProblem(f"{value.literal} is not a JSON number (NaN and infinities are refused)",
                                        path=json_path(parts, root), kind="constant"))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(JsonProblem("number out of range (it would be read as infinity)",
                                        path=json_path(parts, root), kind="range"))
    if problems:
        raise JsonInputError(source, problems)
    return document


def read(path: Path, *, max_bytes: int, max_depth: int, root: str = "(root)",
         limit_names: tuple[str, str] = ("size limit", "depth limit")) -> Any:
    """Read and decode a JSON file strictly; a file past ``max_bytes`` is refused before it is read.

    OSError (missing, unreadable file) is left to the caller.
    """
    path = Path(path)
    with path.open("rb") as fh:
        size = fh.seek(0, 2)
        if size > max_bytes:
            message = f"{size:,} bytes, more than the limit of {max_bytes:,} ({limit_names[0]})"
            raise JsonInputError(str(path), [JsonProblem(message, path=root, kind="size")])
        fh.seek(0)
        data = fh.read(max_bytes + 1)
    return loads(data, source=str(path), max_bytes=max_bytes, max_depth=max_depth, root=root, limit_names=limit_names)
