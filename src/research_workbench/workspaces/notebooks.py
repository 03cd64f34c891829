"""A workspace's notebooks: ``.ipynb`` files on disk, one folder per workspace, ``<root>/<namespace>/``.

The folder is what the workspace's JupyterLab servers open (``workbench/notebooks/spawner.py``); this module
owns everything the Workbench's own pages do with it: the list (name, language, when and by whom last changed,
who holds it), create (Python or R), rename, duplicate, copy to another workspace (the resources' tier rule),
delete (soft: into the folder's ``.trash/``), ``write_notebook`` (the Dataset Builder's export), a read-only
preview as sanitised HTML, and the edit locks.

Beside the notebooks, the folder's hidden ``.notebooks.json`` (JupyterLab does not show hidden files) records who
changed each notebook last through the Workbench and who holds which lock. A lock is taken by the first person
who opens a notebook for editing (or saves it from JupyterLab, which the proxy checks) and lasts while their
server runs (the spawner renews it); a second person sees who holds it and since when, and may preview or copy
the notebook, never overwrite it. Writes to the index are serialised by a lock file (``fcntl``), so threads and
processes on one machine never lose each other's changes.

No web code: the routes and the proxy call these functions.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..cdr.problems import Problem, ProblemsError
from ..state.models import Workspace

SUFFIX = ".ipynb"
NAME_MAX = 100  # characters, with the suffix
MAX_NOTEBOOK_BYTES = 50_000_000  # larger notebooks are listed, not previewed or copied through the Workbench
LANGUAGES = {"python": "Python", "r": "R"}
KERNELSPECS = {
    "python": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
    "r": {"name": "ir", "display_name": "R", "language": "R"},
}
LANGUAGE_INFO = {"python": {"name": "python"}, "r": {"name": "R"}}
INDEX = ".notebooks.json"
INDEX_LOCK = ".notebooks.lock"
TRASH = ".trash"
LOCK_TTL = timedelta(minutes=10)  # a lock not renewed for this long (its server is gone) is free again
_NAMESPACE = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f:*?\"<>|]")


class NotebookError(ProblemsError):
    heading = "cannot do that with the notebook"
    outcome = "nothing was changed."


class NotebookNotFound(LookupError):
    """No notebook of that name in the workspace."""


class NotebookLocked(Exception):
    """Someone else holds the notebook's edit lock."""

    def __init__(self, name: str, lock: Lock):
        self.name, self.lock = name, lock
        super().__init__(f"{name} is in use by {lock.who} since {lock.since:%-d %b %Y %H:%M} UTC: open a copy or "
                         f"read the preview.")


@dataclass(frozen=True)
class Lock:
    user_id: int
    who: str
    since: datetime
    expires: datetime

    def live(self, now: datetime) -> bool:
        return self.expires > now


@dataclass(frozen=True)
class Notebook:
    name: str
    language: str  # "python", "r" or "" (no kernel named)
    size: int
    modified_at: datetime
    modified_by: str | None  # who changed it last, when known
    lock: Lock | None  # a live lock only

    @property
    def stem(self) -> str:
        return self.name[: -len(SUFFIX)]

    @property
    def language_label(self) -> str:
        return LANGUAGES.get(self.language, "unknown")


# -- where things are --------------------------------------------------------------------------------------------

def is_namespace(value: str) -> bool:
    return isinstance(value, str) and _NAMESPACE.fullmatch(value) is not None


def folder(root: Path, namespace: str) -> Path:
    """The workspace's notebook folder (not created: listing an empty workspace writes nothing)."""
    if not _NAMESPACE.fullmatch(namespace or ""):
        raise ValueError(f"not a workspace namespace: {namespace!r}")
    return Path(root) / namespace


def check_name(name: Any, where: str = "name") -> str:
    """A notebook's file name from what a person typed: trimmed, ``.ipynb`` appended when missing; refused (one
    problem at ``where``) when empty, too long, hidden, or holding a path separator or a control character."""
    if not isinstance(name, str):
        raise NotebookError([Problem("give the notebook a name", where)])
    name = name.strip()
    if name.lower().endswith(SUFFIX):
        name = name[: -len(SUFFIX)].rstrip()
    if not name:
        raise NotebookError([Problem("give the notebook a name", where)])
    if _FORBIDDEN.search(name):
        raise NotebookError([Problem("a name cannot hold / \\ : * ? \" < > | or control characters", where)])
    if name.startswith("."):
        raise NotebookError([Problem("a name cannot start with a dot", where)])
    name += SUFFIX
    if len(name) > NAME_MAX:
        raise NotebookError([Problem(f"at most {NAME_MAX - len(SUFFIX)} characters", where)])
    return name


def _existing(root: Path, namespace: str, name: str) -> Path:
    """The path of an existing notebook ``name`` (an exact file name from a URL or a form)."""
    if not isinstance(name, str) or not name.endswith(SUFFIX) or _FORBIDDEN.search(name) or name.startswith("."):
        raise NotebookNotFound(name)
    path = folder(root, namespace) / name
    if not path.is_file():
        raise NotebookNotFound(name)
    return path


# -- the index: who changed what, who holds what -----------------------------------------------------------------

def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _read_index(base: Path) -> dict[str, Any]:
    try:
        data = json.loads((base / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"notebooks": {}, "locks": {}}
    if not isinstance(data, dict):
        return {"notebooks": {}, "locks": {}}
    data.setdefault("notebooks", {})
    data.setdefault("locks", {})
    return data


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _index(base: Path) -> Iterator[dict[str, Any]]:
    """The folder's index, for changing: held under the folder's lock file, written back atomically."""
    base.mkdir(parents=True, exist_ok=True)
    with open(base / INDEX_LOCK, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            data = _read_index(base)
            yield data
            _write_atomic(base / INDEX, json.dumps(data, indent=1, sort_keys=True).encode())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_of(entry: Any) -> Lock | None:
    try:
        return Lock(int(entry["user_id"]), str(entry["who"]), _parse(entry["since"]), _parse(entry["expires"]))
    except (KeyError, TypeError, ValueError):
        return None


def _stamp(data: dict, name: str, path: Path, by: str | None, now: datetime, language: str | None = None) -> None:
    entry = data["notebooks"].setdefault(name, {})
    entry.update({"mtime": path.stat().st_mtime, "modified_by": by, "modified_at": _iso(now)})
    if language is not None:
        entry["language"] = language


# -- reading ------------------------------------------------------------------------------------------------------

def _language(nb: dict) -> str:
    meta = nb.get("metadata") or {}
    spec = meta.get("kernelspec") or {}
    language = str(spec.get("language") or (meta.get("language_info") or {}).get("name") or "").lower()
    return language if language in LANGUAGES else ""


def _read_json(path: Path) -> dict:
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise NotebookError([Problem(f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 1_000_000} MB: open it in "
                                     f"JupyterLab", "name")])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise NotebookError([Problem(f"not a readable notebook: {err}", "name")]) from None
    if not isinstance(data, dict):
        raise NotebookError([Problem("not a notebook (not a JSON object)", "name")])
    return data


def list_notebooks(root: Path, namespace: str, *, now: datetime) -> list[Notebook]:
    """The workspace's notebooks (its folder's ``*.ipynb``), by name. A notebook changed in JupyterLab since the
    Workbench last recorded it shows the lock holder as who changed it (or no one, when it is not held)."""
    base = folder(root, namespace)
    if not base.is_dir():
        return []
    data = _read_index(base)
    out = []
    for path in sorted(base.glob("*" + SUFFIX), key=lambda p: p.name.lower()):
        if path.name.startswith(".") or not path.is_file():
            continue
        stat = path.stat()
        entry = data["notebooks"].get(path.name) or {}
        lock = _lock_of(data["locks"].get(path.name))
        lock = lock if lock is not None and lock.live(now) else None
        known = entry.get("mtime") == stat.st_mtime
        language = entry.get("language") if known and "language" in entry else None
        if language is None:
            try:
                language = _language(_read_json(path))
            except NotebookError:
                language = ""
        by = entry.get("modified_by") if known else (lock.who if lock else None)
        out.append(Notebook(path.name, language, stat.st_size,
                            datetime.fromtimestamp(stat.st_mtime, timezone.utc), by, lock))
    return out


def get(root: Path, namespace: str, name: str, *, now: datetime) -> Notebook:
    _existing(root, namespace, name)
    for notebook in list_notebooks(root, namespace, now=now):
        if notebook.name == name:
            return notebook
    raise NotebookNotFound(name)


# -- writing ------------------------------------------------------------------------------------------------------

def _new(language: str, cells: Sequence[tuple[str, str]] = ()) -> Any:
    import nbformat
    from nbformat import v4

    if language not in LANGUAGES:
        raise NotebookError([Problem(f"choose {' or '.join(LANGUAGES.values())}", "language")])
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPECS[language])
    nb.metadata["language_info"] = dict(LANGUAGE_INFO[language])
    problems = []
    for i, cell in enumerate(cells):
        try:
            kind, source = cell
        except (TypeError, ValueError):
            problems.append(Problem("a cell is a (kind, source) pair", f"cells[{i}]"))
            continue
        if not isinstance(source, str):
            problems.append(Problem("a cell's source is text", f"cells[{i}]"))
        elif kind == "markdown":
            nb.cells.append(v4.new_markdown_cell(source))
        elif kind == "code":
            nb.cells.append(v4.new_code_cell(source))
        else:
            problems.append(Problem(f"a cell is 'markdown' or 'code', not {kind!r}", f"cells[{i}]"))
    if problems:
        raise NotebookError(problems)
    nbformat.validate(nb)
    return nb


def _taken(base: Path, name: str) -> bool:
    return any(p.name.lower() == name.lower() for p in base.glob("*" + SUFFIX)) if base.is_dir() else False


def _create_file(base: Path, name: str, payload: bytes) -> Path:
    """Write a new notebook; refused when the name is taken (case-insensitively: two names one file on some disks)."""
    base.mkdir(parents=True, exist_ok=True)
    if _taken(base, name):
        raise NotebookError([Problem(f"a notebook named {name!r} already exists in this workspace", "name")])
    path = base / name
    try:
        with open(path, "xb") as out:  # never replaces a file written meanwhile
            out.write(payload)
    except FileExistsError:
        raise NotebookError([Problem(f"a notebook named {name!r} already exists in this workspace", "name")]) from None
    return path


def write_notebook(root: Path, namespace: str, name: str, cells: Sequence[tuple[str, str]], language: str, *,
                   by: str | None = None, now: datetime | None = None) -> Path:
    """A new notebook ``name`` (``.ipynb`` appended when missing) in the workspace's folder, of ``language``
    ("python" or "r"), with ``cells``: (kind, source) pairs, kind "markdown" or "code". Its path; ``NotebookError``
    for a bad or taken name, a bad cell or language."""
    import nbformat

    name = check_name(name)
    nb = _new(language, cells)
    base = folder(root, namespace)
    path = _create_file(base, name, nbformat.writes(nb).encode("utf-8"))
    with _index(base) as data:
        _stamp(data, name, path, by, now or datetime.now(timezone.utc), language)
    return path


def append_cells(root: Path, namespace: str, name: str, cells: Sequence[tuple[str, str]], language: str, *,
                 user_id: int, by: str, now: datetime) -> Path:
    """Add ``cells`` at the end of the existing notebook ``name`` (the Dataset Builder's "add to a notebook"): of the
    same language, and not held by someone else (``NotebookLocked``: never a silent overwrite of their work). The
    file is rewritten atomically; JupyterLab, if the notebook is open there, says the file changed on disk."""
    import nbformat

    path = _existing(root, namespace, name)
    data = _read_json(path)
    if _language(data) != language:
        raise NotebookError([Problem(f"{name} runs {LANGUAGES.get(_language(data), 'another language')}: add "
                                     f"{LANGUAGES.get(language, language)} code to a notebook that runs "
                                     f"{LANGUAGES.get(language, language)}", "notebook")])
    added = _new(language, cells).cells
    base = folder(root, namespace)
    with _index(base) as index:
        _free_or_mine(index, name, user_id, now)
        document = nbformat.from_dict(data)
        document.cells.extend(added)
        nbformat.validate(document)
        _write_atomic(path, nbformat.writes(document).encode("utf-8"))
        _stamp(index, name, path, by, now)
    return path


def create(root: Path, namespace: str, name: Any, language: Any, *, by: str, now: datetime) -> Notebook:
    """An empty notebook of ``language`` (one empty code cell)."""
    problems = []
    try:
        name = check_name(name)
    except NotebookError as err:
        problems += err.problems
    if language not in LANGUAGES:
        problems.append(Problem(f"choose {' or '.join(LANGUAGES.values())}", "language"))
    if problems:
        raise NotebookError(problems)
    write_notebook(root, namespace, name, [("code", "")], language, by=by, now=now)
    return get(root, namespace, name, now=now)


def _free_or_mine(data: dict, name: str, user_id: int | None, now: datetime) -> None:
    lock = _lock_of(data["locks"].get(name))
    if lock is not None and lock.live(now) and lock.user_id != user_id:
        raise NotebookLocked(name, lock)


def rename(root: Path, namespace: str, name: str, new_name: Any, *, user_id: int, by: str, now: datetime) -> Notebook:
    """Rename a notebook nobody else holds (its lock, if it is the renamer's, moves with it)."""
    path = _existing(root, namespace, name)
    new_name = check_name(new_name, "new_name")
    base = path.parent
    with _index(base) as data:
        _free_or_mine(data, name, user_id, now)
        if new_name.lower() != name.lower() and _taken(base, new_name):
            raise NotebookError([Problem(f"a notebook named {new_name!r} already exists in this workspace",
                                         "new_name")])
        if new_name == name:
            raise NotebookError([Problem("that is its name already", "new_name")])
        target = base / new_name
        os.rename(path, target)
        data["notebooks"].pop(name, None)
        lock = data["locks"].pop(name, None)
        if lock is not None:
            data["locks"][new_name] = lock
        _stamp(data, new_name, target, by, now, _language_of_file(target))
    return get(root, namespace, new_name, now=now)


def _language_of_file(path: Path) -> str:
    try:
        return _language(_read_json(path))
    except NotebookError:
        return ""


def _copy_name(base: Path, name: str) -> str:
    stem = name[: -len(SUFFIX)]
    for n in range(1, 1000):
        candidate = f"{stem} copy{'' if n == 1 else f' {n}'}"[: NAME_MAX - len(SUFFIX)] + SUFFIX
        if not _taken(base, candidate):
            return candidate
    raise NotebookError([Problem("too many copies of this notebook: name the copy", "name")])


def duplicate(root: Path, namespace: str, name: str, new_name: Any = None, *, by: str, now: datetime) -> Notebook:
    """A copy of a notebook in its own workspace (``new_name``, or "<name> copy", "<name> copy 2"…)."""
    path = _existing(root, namespace, name)
    payload = path.read_bytes()
    base = path.parent
    new_name = check_name(new_name, "new_name") if new_name else _copy_name(base, name)
    try:
        target = _create_file(base, new_name, payload)
    except NotebookError as err:
        raise NotebookError([Problem(p.message, "new_name") for p in err.problems]) from None
    with _index(base) as data:
        _stamp(data, new_name, target, by, now, _language_of_file(target))
    return get(root, namespace, new_name, now=now)


def copy_to(root: Path, source: Workspace, name: str, target: Workspace, new_name: Any = None, *, by: str,
            now: datetime) -> Notebook:
    """A copy of ``source``'s notebook in ``target`` (the caller checked the person may write there), under the
    resources' rule: the same tier only, and a target data version of the same or a newer release."""
    from .resources import copy_problems

    path = _existing(root, source.namespace, name)
    problems = copy_problems(source, target)
    if problems:
        raise NotebookError(problems)
    if source.id == target.id:
        raise NotebookError([Problem("that is this workspace: use Duplicate", "target")])
    base = folder(root, target.namespace)
    new_name = check_name(new_name, "new_name") if new_name else name
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise NotebookError([Problem("the notebook is too large to copy through the Workbench", "name")])
    try:
        copied = _create_file(base, new_name, path.read_bytes())
    except NotebookError as err:
        raise NotebookError([Problem(p.message + ": give the copy another name", "new_name")
                             for p in err.problems]) from None
    with _index(base) as data:
        _stamp(data, new_name, copied, by, now, _language_of_file(copied))
    return get(root, target.namespace, new_name, now=now)


def delete(root: Path, namespace: str, name: str, *, user_id: int, now: datetime) -> Path:
    """Move a notebook nobody else holds into the folder's ``.trash/`` (as ``<time> <name>``); its new path."""
    path = _existing(root, namespace, name)
    base = path.parent
    with _index(base) as data:
        _free_or_mine(data, name, user_id, now)
        trash = base / TRASH
        trash.mkdir(exist_ok=True)
        target = trash / f"{now:%Y%m%dT%H%M%S.%f} {name}"
        shutil.move(str(path), target)
        data["notebooks"].pop(name, None)
        data["locks"].pop(name, None)
    return target


# -- locks --------------------------------------------------------------------------------------------------------

def lock_of(root: Path, namespace: str, name: str, *, now: datetime) -> Lock | None:
    base = folder(root, namespace)
    lock = _lock_of(_read_index(base)["locks"].get(name)) if base.is_dir() else None
    return lock if lock is not None and lock.live(now) else None


def acquire(root: Path, namespace: str, name: str, *, user_id: int, who: str, now: datetime) -> Lock:
    """Take (or renew) the edit lock of ``name`` for ``user_id``; ``NotebookLocked`` when someone else holds it.
    ``name`` need not exist yet (a notebook saved for the first time from JupyterLab)."""
    with _index(folder(root, namespace)) as data:
        _free_or_mine(data, name, user_id, now)
        old = _lock_of(data["locks"].get(name))
        since = old.since if old is not None and old.user_id == user_id and old.live(now) else now
        lock = Lock(user_id, who, since, now + LOCK_TTL)
        data["locks"][name] = {"user_id": user_id, "who": who, "since": _iso(since), "expires": _iso(lock.expires)}
        return lock


def renew(root: Path, namespace: str, user_id: int, *, now: datetime) -> int:
    """Extend every live lock ``user_id`` holds in the workspace (their server still runs); how many."""
    base = folder(root, namespace)
    if not (base / INDEX).exists():
        return 0
    count = 0
    with _index(base) as data:
        for entry in data["locks"].values():
            lock = _lock_of(entry)
            if lock is not None and lock.user_id == user_id and lock.live(now):
                entry["expires"] = _iso(now + LOCK_TTL)
                count += 1
    return count


def release(root: Path, namespace: str, user_id: int, *, now: datetime) -> list[str]:
    """Drop ``user_id``'s locks in the workspace (their server stopped), recording them as who last changed the
    notebooks they held that changed since; the names released."""
    base = folder(root, namespace)
    if not (base / INDEX).exists():
        return []
    released = []
    with _index(base) as data:
        for name, entry in list(data["locks"].items()):
            lock = _lock_of(entry)
            if lock is None or lock.user_id != user_id:
                continue
            del data["locks"][name]
            released.append(name)
            path = base / name
            known = data["notebooks"].get(name) or {}
            if path.is_file() and known.get("mtime") != path.stat().st_mtime:
                _stamp(data, name, path, lock.who, now, _language_of_file(path))
    return released


# -- the read-only preview ----------------------------------------------------------------------------------------

_ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub",
    "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
})
_DROPPED_WITH_CONTENT = re.compile(r"<(script|style|template|iframe|object|embed|svg|math|noscript)\b.*?</\1\s*>",
                                   re.IGNORECASE | re.DOTALL)
_UNCLOSED = re.compile(r"<(script|style|template|iframe|object|embed|svg|math|noscript)\b[^>]*>", re.IGNORECASE)
_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
IMAGE_PLACEHOLDER = "[an image: open the notebook to see it]"


def _href(tag: str, name: str, value: str) -> bool:
    if name == "class":
        return True
    if tag == "a" and name == "href":
        return value.startswith(("https://", "http://", "mailto:", "#"))
    if tag in ("td", "th") and name in ("colspan", "rowspan"):
        return value.isdigit()
    return False


def sanitise(html: str) -> str:
    """HTML with nothing that runs or loads: scripts, styles, frames, SVG and MathML gone with their content,
    images replaced by a note (the Workbench's CSP would block their ``data:`` URLs), every attribute but
    ``class``, safe links and table spans dropped. Whatever is left is escaped by bleach."""
    import bleach

    html = _DROPPED_WITH_CONTENT.sub("", html)
    html = _UNCLOSED.sub("", html)
    html = _IMAGE.sub(f'<span class="hint">{IMAGE_PLACEHOLDER}</span>', html)
    return bleach.clean(html, tags=_ALLOWED_TAGS, attributes=_href, protocols={"http", "https", "mailto"},
                        strip=True, strip_comments=True)


def preview_html(root: Path, namespace: str, name: str) -> str:
    """The notebook as sanitised HTML (cells, their outputs), for a page that runs no script."""
    import nbformat
    from nbconvert import HTMLExporter

    path = _existing(root, namespace, name)
    _read_json(path)  # size and JSON checked
    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception as err:  # nbformat raises several kinds for a damaged file
        raise NotebookError([Problem(f"not a readable notebook: {err}", "name")]) from None
    exporter = HTMLExporter(template_name="basic")
    try:
        body, _ = exporter.from_notebook_node(nb)
    except Exception as err:
        raise NotebookError([Problem(f"cannot show this notebook: {err}", "name")]) from None
    return sanitise(body)
