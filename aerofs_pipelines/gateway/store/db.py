"""The gateway's database: tables, versioned migrations, engines and transactions.

Tables live in the instance database, prefixed ``aerofs_``. ``aerofs_schema_version``
records the applied steps of ``MIGRATIONS`` (ordered, append-only); ``migrate()`` runs
the pending ones in one transaction, serialized across processes (a PostgreSQL advisory
lock; SQLite's write lock). ``make_engine(url)`` sets SQLite up for several processes
(WAL, busy timeout, real transactions); ``read(engine)`` / ``write(engine)`` open one.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine

from aerofs_pipelines.sqlite_wal import enable_wal


class SchemaTooNew(ValueError):
    """The database was migrated by a newer release."""


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite stores naive UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the gateway store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _schema_v1(md: sa.MetaData) -> tuple[sa.Table, ...]:
    """The tables of schema version 1, frozen: when a later migration changes a table,
    declare the current table at module level instead and leave this as it is."""
    users = sa.Table(
        "aerofs_users",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )

    def user_fk() -> sa.ForeignKey:
        return sa.ForeignKey("aerofs_users.id", ondelete="CASCADE")

    sessions = sa.Table(
        "aerofs_sessions",
        md,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, user_fk(), nullable=False, index=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("address", sa.String(255)),
        sa.Column("revoked_at", UTCDateTime),
    )
    tokens = sa.Table(
        "aerofs_tokens",
        md,
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("user_id", sa.Integer, user_fk(), nullable=False, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("last_used_at", UTCDateTime),
        sa.Column("revoked_at", UTCDateTime),
    )
    audit_log = sa.Table(
        "aerofs_audit",
        md,
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("time", UTCDateTime, nullable=False, index=True),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), index=True),
        sa.Column("role", sa.String(16)),
        sa.Column("address", sa.String(255)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("operation", sa.String(255)),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("variables", sa.Text),
        sa.Column("detail", sa.Text, nullable=False),
    )
    login_attempts = sa.Table(
        "aerofs_login_attempts",
        md,
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("time", UTCDateTime, nullable=False, index=True),
        sa.Column("username", sa.String(64)),
        sa.Column("address", sa.String(255)),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Index("ix_aerofs_login_attempts_username_time", "username", "time"),
        sa.Index("ix_aerofs_login_attempts_address_time", "address", "time"),
    )
    return users, sessions, tokens, audit_log, login_attempts


# The current schema (today: version 1) for queries, plus the version table.
metadata = sa.MetaData()
users, sessions, tokens, audit_log, login_attempts = _schema_v1(metadata)
version_table = sa.Table(
    "aerofs_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)


# --------------------------------------------------------------------------- migrations


def _v1_initial(conn: Connection) -> None:
    """Version 1: users, sessions, tokens, audit log, login attempts."""
    md = sa.MetaData()
    _schema_v1(md)
    md.create_all(conn)


# Ordered and append-only: (version, description, step). A step gets the connection of
# the migration transaction; alembic's ``Operations`` (``alembic.operations``) suits
# ALTERs, with ``batch_alter_table`` for SQLite.
MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "users, sessions, tokens, audit, login attempts", _v1_initial),
)
LATEST_VERSION = MIGRATIONS[-1][0]
_PG_LOCK_KEY = 0x4145524F4653  # "AEROFS"


# --------------------------------------------------------------------------- engine


def engine_url(url: str) -> sa.URL:
    """``url`` with a PostgreSQL driver that is installed: SQLAlchemy 2.1 reads a bare
    ``postgresql://`` as psycopg 3, while Dagster's stack installs psycopg2."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        driver = "psycopg" if importlib.util.find_spec("psycopg") else "psycopg2"
        return parsed.set(drivername=f"postgresql+{driver}")
    return parsed


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite set up for concurrent processes)."""
    parsed = engine_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's recipe: we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        enable_wal(cur.execute)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("aerofs_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction (on SQLite ``BEGIN IMMEDIATE``: no upgrade deadlocks)."""
    with engine.connect().execution_options(aerofs_write=True) as conn, conn.begin():
        yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read transaction."""
    with engine.connect() as conn, conn.begin():
        yield conn


def schema_version(engine: Engine) -> int:
    """The applied schema version (0 for an empty database)."""
    with read(engine) as conn:
        if not sa.inspect(conn).has_table(version_table.name):
            return 0
        return int(conn.scalar(sa.select(sa.func.max(version_table.c.version))) or 0)


def migrate(engine: Engine, now: datetime) -> int:
    """Apply the pending migrations; the resulting version. SchemaTooNew if newer."""
    with write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        version_table.create(conn, checkfirst=True)
        current = int(conn.scalar(sa.select(sa.func.max(version_table.c.version))) or 0)
        if current > LATEST_VERSION:
            raise SchemaTooNew(
                f"the gateway database has schema version {current}, newer than this "
                f"release knows ({LATEST_VERSION}); upgrade aerofs-pipelines"
            )
        for version, description, step in MIGRATIONS:
            if version > current:
                step(conn)
                conn.execute(
                    version_table.insert().values(
                        version=version, description=description, applied_at=now
                    )
                )
    return LATEST_VERSION
