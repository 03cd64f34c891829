"""PostgreSQL: read an OMOP schema out (streaming COPY) and write a CDR in (one transaction)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from ..cdr.ddl import create_table
from ..cdr.model import cdm
from ..cdr.store import Cdr
from ..cdr.engine import connect
from .errors import LoadError
from .sources import SourceFile


def redact(url: str) -> str:
    """The URL without its password, for manifests and messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _connect(url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(url)
    except psycopg.Error as err:
        raise LoadError.one(redact(url), f"cannot connect to PostgreSQL: {str(err).strip().splitlines()[0]}") from err


def _tables(cur: psycopg.Cursor, schema: str) -> dict[str, str]:
    cur.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type IN ('BASE TABLE', 'VIEW')",
        [schema],
    )
    return {name.lower(): name for (name,) in cur.fetchall()}


def export_tables(url: str, schema: str, vocab_schema: str | None, scratch: Path) -> dict[str, SourceFile]:
    """Each table of ``schema`` (vocabulary tables from ``vocab_schema`` when given) as a CSV file in ``scratch``.

    COPY streams in chunks, so memory stays flat whatever the table size; the CSV then goes through the same
    checks as any file source.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    model = cdm()
    sources: dict[str, SourceFile] = {}
    with _connect(url) as conn, conn.cursor() as cur:
        main = _tables(cur, schema)
        if not main:
            raise LoadError.one(f"postgresql:{schema}", "schema has no tables (or does not exist)")
        wanted = {name: (schema, real) for name, real in main.items()}
        if vocab_schema:
            vocab = _tables(cur, vocab_schema)
            for table in model.vocabulary_tables:
                if table.name in vocab:
                    wanted[table.name] = (vocab_schema, vocab[table.name])
        for name, (sch, real) in sorted(wanted.items()):
            path = scratch / f"{name}.csv"
            query = sql.SQL("COPY (SELECT * FROM {}.{}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
                sql.Identifier(sch), sql.Identifier(real)
            )
            with path.open("wb") as fh, cur.copy(query) as copy:
                for chunk in copy:
                    fh.write(chunk)
            sources[name] = SourceFile(
                table=name, paths=[path], kind="csv", display=f"postgresql:{sch}.{real}", row_word="row", first_row=1
            )
    return sources


def write_cdr(cdr_dir: Path, url: str, schema: str, *, replace: bool = False, progress=None) -> dict[str, int]:
    """Create ``schema`` in PostgreSQL and copy every table of a CDR into it, all in one transaction.

    Returns rows copied per table. An existing schema is refused unless ``replace``.
    """
    cdr = Cdr(cdr_dir)
    counts: dict[str, int] = {}
    duck = connect()
    try:
        _write_tables(cdr, duck, url, schema, replace, counts, progress)
    except psycopg.Error as err:
        detail = str(err).strip().splitlines()
        raise LoadError.one(f"postgresql:{schema}", "PostgreSQL refused the copy; nothing was written: " + " ".join(detail[:2])) from err
    finally:
        duck.close()
    return counts


def _write_tables(cdr: Cdr, duck, url: str, schema: str, replace: bool, counts: dict[str, int], progress) -> None:
    model = cdm()
    with _connect(url) as conn, tempfile.TemporaryDirectory(prefix="rw-pgcopy-") as tmp:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [schema])
            if cur.fetchone():
                if not replace:
                    raise LoadError.one(f"postgresql:{schema}", "schema already exists (use --replace to overwrite it)")
                cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            names = list(cdr.manifest.tables)
            for done, name in enumerate(names):
                if progress:
                    progress(name, done, len(names))
                table = model.table(name)
                keyed = not cdr.manifest.tables[name].duplicate_key_rows
                cur.execute(create_table(table, "postgres", schema, primary_key=keyed).sql(dialect="postgres"))
                columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names)
                copy_sql = sql.SQL("COPY {}.{} ({}) FROM STDIN WITH (FORMAT csv)").format(
                    sql.Identifier(schema), sql.Identifier(name), columns
                )
                csv_path = Path(tmp) / f"{name}.csv"
                try:
                    duck.read_parquet(str(cdr.table_file(name))).write_csv(str(csv_path), header=False)
                    with cur.copy(copy_sql) as copy, csv_path.open("rb") as fh:
                        for block in iter(lambda: fh.read(1 << 20), b""):
                            copy.write(block)
                finally:
                    csv_path.unlink(missing_ok=True)
                counts[name] = cdr.manifest.tables[name].rows
