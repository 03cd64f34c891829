"""Opening the application database (SQLite file or PostgreSQL) and migrating it with Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseError(RuntimeError):
    """The application database cannot be used as asked (bad URL, schema behind or ahead of this version)."""


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def _sqlite_engine(url: str, *, immediate: bool = True) -> Engine:
    # The driver's own transaction handling is off (isolation_level=None) so that every transaction SQLAlchemy
    # begins is BEGIN IMMEDIATE: it takes the write lock at once, and two writers queue (busy_timeout) instead of
    # one failing when it upgrades a read lock. WAL lets readers of other connections go on meanwhile. The read
    # engine (immediate=False) begins deferred transactions, which never take the write lock: for reads only.
    engine = create_engine(url, connect_args={"isolation_level": None, "check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """One application database: its engine, a session factory, and its migrations."""

    def __init__(self, url: str):
        try:
            parsed = make_url(url)
        except Exception as err:  # sqlalchemy.exc.ArgumentError, ValueError
            raise DatabaseError(f"not a database URL: {url!r} ({err})") from err
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = _sqlite_engine(url)
            self.read_engine = _sqlite_engine(url, immediate=False)
        elif parsed.get_backend_name() == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            self.engine = create_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.read_engine = self.engine
        else:
            raise DatabaseError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite:///FILE or postgresql://…")
        self.url = parsed
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends and rolls back if it raises."""
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session: on SQLite it never takes the write lock, so reads do not queue behind writers.
        Nothing it changes is written: it never flushes or commits."""
        with self.read_sessions() as session:  # closing ends the transaction unwritten; loaded objects stay usable
            yield session

    # -- migrations ------------------------------------------------------------------------------------------
    def _alembic_config(self):
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["engine"] = self.engine
        return config

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (the newest by default); a new database gets every table."""
        from alembic import command

        command.upgrade(self._alembic_config(), revision)

    def downgrade(self, revision: str) -> None:
        from alembic import command

        command.downgrade(self._alembic_config(), revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None
        return head

    def check_current(self) -> None:
        """Refuse a database whose schema is not this version's (run ``workbench admin migrate``)."""
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            raise DatabaseError(f"the database schema is at {current or 'nothing'}, this version needs {head}: "
                                "run `workbench admin migrate`")

    def table_names(self) -> set[str]:
        return set(inspect(self.engine).get_table_names())

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
