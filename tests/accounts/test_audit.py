"""The audit log: append-only in the database, HMAC-chained, verified row by row, pinned by checkpoints.

Every test runs on SQLite (a file) and on PostgreSQL (a fresh schema), both migrated by Alembic.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from research_workbench.accounts.audit import (
    GENESIS,
    AuditAction,
    AuditError,
    AuditLog,
    chain_hash,
    load_checkpoint,
)
from research_workbench.state.db import Database, sqlite_url
from research_workbench.state.models import AuditEvent

KEY = b"k" * 32
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def open_db(kind: str, request, tmp_path) -> Database:
    """A migrated application database: a SQLite file, or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        database = Database(sqlite_url(tmp_path / "workbench.sqlite"))
    else:
        import psycopg
        from psycopg import sql

        pg_url = request.getfixturevalue("pg_url")
        schema = request.getfixturevalue("pg_schema")("audit")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
        database = Database(url.render_as_string(hide_password=False))
    database.upgrade()
    return database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    database = open_db(request.param, request, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def pg_db(request, tmp_path):
    database = open_db("postgresql", request, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def log() -> AuditLog:
    return AuditLog(KEY)


def append_three(db: Database, log: AuditLog) -> None:
    with db.session() as s:
        log.append(s, AuditAction.SIGNUP, actor_id=1, target_user_id=1, ip="10.0.0.1", details={"email": "a@x.edu"},
                   at=T0)
        log.append(s, AuditAction.SIGNIN, actor_id=1, ip="10.0.0.1", details={"mfa": True}, at=T0 + timedelta(1))
    with db.session() as s:
        log.append(s, AuditAction.BYPASS_SET, actor_id=9, target_user_id=1,
                   details={"module": "identity", "reason": "pilot"}, at=T0 + timedelta(2))


def drop_triggers(db: Database) -> None:
    """What an attacker with database administrator rights does first."""
    with db.engine.begin() as conn:
        if db.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_change ON audit_events")
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_truncate ON audit_events")


def rows(db: Database) -> list[AuditEvent]:
    with db.session() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def rechain(db: Database, key: bytes, from_seq: int, changes: dict[int, dict]) -> None:
    """Rewrite rows from ``from_seq`` on (applying ``changes``), recomputing every hash with ``key``."""
    with db.session() as s:
        prev = s.scalar(select(AuditEvent.hash).where(AuditEvent.seq == from_seq - 1)) or GENESIS
        for e in s.scalars(select(AuditEvent).where(AuditEvent.seq >= from_seq).order_by(AuditEvent.seq)).all():
            details = changes.get(e.seq, e.details)
            new = chain_hash(key, prev, e.seq, e.at, e.action, e.actor_id, e.target_user_id, e.ip, details)
            s.execute(update(AuditEvent).where(AuditEvent.seq == e.seq)
                      .values(details=details, prev_hash=prev, hash=new))
            prev = new


# -- the chain --------------------------------------------------------------------------------------------------

def test_three_appends_get_seq_1_to_3_each_linked_to_the_previous_hash_and_verify(db, log):
    append_three(db, log)

    got = rows(db)
    assert [e.seq for e in got] == [1, 2, 3]
    assert [e.action for e in got] == ["signup", "signin", "bypass_set"]
    assert got[0].prev_hash == GENESIS
    assert got[1].prev_hash == got[0].hash and got[2].prev_hash == got[1].hash
    assert got[0].at == T0 and got[0].details == {"email": "a@x.edu"} and got[0].ip == "10.0.0.1"
    report = log.verify(db)
    assert (report.ok, report.rows, report.first_bad_seq, report.reason) == (True, 3, None, None)
    assert (report.head_seq, report.head_hash) == (3, got[2].hash)


def test_the_hash_is_hmac_sha256_of_prev_hash_then_canonical_json(db, log):
    with db.session() as s:
        event = log.append(s, "signin", actor_id=7, ip="::1", details={"b": 1, "a": "é"}, at=T0)

    message = (GENESIS + '{"action":"signin","actor_id":7,"at":"2026-01-02T03:04:05.000000Z",'
               '"details":{"a":"é","b":1},"ip":"::1","seq":1,"target_user_id":null}').encode()
    assert event.hash == hmac.new(KEY, message, hashlib.sha256).hexdigest()


def test_an_empty_log_verifies_with_no_rows(db, log):
    report = log.verify(db)
    assert (report.ok, report.rows, report.head_seq, report.head_hash) == (True, 0, 0, GENESIS)


def test_verify_reads_through_a_session_and_in_small_batches_too(db, log):
    append_three(db, log)
    with db.session() as s:
        report = log.verify(s, batch_size=2)
    assert (report.ok, report.rows, report.head_seq) == (True, 3, 3)


# -- append-only in the database --------------------------------------------------------------------------------

def test_the_database_refuses_update_of_an_audit_row(db, log):
    append_three(db, log)
    with pytest.raises(DBAPIError, match="append-only"):
        with db.session() as s:
            s.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(details={"mfa": False}))
    assert log.verify(db).ok


def test_the_database_refuses_delete_of_an_audit_row(db, log):
    append_three(db, log)
    with pytest.raises(DBAPIError, match="append-only"):
        with db.session() as s:
            s.execute(delete(AuditEvent).where(AuditEvent.seq == 3))
    assert log.verify(db).rows == 3


def test_postgresql_refuses_truncate_of_the_audit_log(pg_db, log):
    db = pg_db
    append_three(db, log)
    with pytest.raises(DBAPIError, match="append-only"):
        with db.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE audit_events")
    assert log.verify(db).rows == 3


# -- tampering, once the triggers are gone ----------------------------------------------------------------------

def test_changed_details_are_named_as_a_hash_mismatch_at_that_row(db, log):
    append_three(db, log)
    drop_triggers(db)
    with db.session() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(details={"mfa": False}))

    report = log.verify(db)
    assert (report.ok, report.first_bad_seq, report.rows, report.head_seq) == (False, 2, 1, 1)
    assert report.reason.startswith("hash mismatch: row 2")


def test_a_deleted_row_is_named_as_a_seq_gap(db, log):
    append_three(db, log)
    drop_triggers(db)
    with db.session() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.seq == 2))

    report = log.verify(db)
    assert (report.ok, report.first_bad_seq, report.rows) == (False, 2, 1)
    assert report.reason == "seq gap: row 2 missing (deleted) before row 3"


def test_a_deleted_row_with_the_rest_renumbered_is_named_as_a_prev_hash_mismatch(db, log):
    append_three(db, log)
    drop_triggers(db)
    with db.session() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
        s.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(seq=2))

    report = log.verify(db)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert report.reason.startswith("prev_hash mismatch: row 2")


def test_a_cut_tail_passes_alone_but_a_checkpoint_taken_before_names_the_missing_row(db, log):
    append_three(db, log)
    with db.session() as s:
        point = log.checkpoint(s)
    drop_triggers(db)
    with db.session() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.seq == 3))

    assert log.verify(db).ok  # a shorter chain is still a chain
    report = log.verify(db, checkpoints=[point])
    assert (report.ok, report.first_bad_seq, report.rows, report.head_seq) == (False, 3, 2, 2)
    assert report.reason == "truncated: the log ends at row 2 but a checkpoint has row 3 (row 3 removed from the end)"


def test_a_row_forged_with_a_wrong_key_and_re_chained_is_caught_at_that_row(db, log):
    append_three(db, log)
    drop_triggers(db)
    rechain(db, b"w" * 32, 2, {2: {"mfa": False}})

    report = log.verify(db)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert report.reason.startswith("hash mismatch: row 2")


def test_a_rewrite_re_chained_with_the_real_key_is_caught_only_by_a_checkpoint(db, log):
    append_three(db, log)
    with db.session() as s:
        point = log.checkpoint(s)
    drop_triggers(db)
    rechain(db, KEY, 2, {2: {"mfa": False}})

    assert log.verify(db).ok
    report = log.verify(db, checkpoints=[point])
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert report.reason.startswith("checkpoint mismatch: row 3")


def test_verifying_with_the_wrong_key_fails_at_the_first_row(db, log):
    append_three(db, log)
    report = AuditLog(b"w" * 32).verify(db)
    assert (report.ok, report.first_bad_seq, report.rows, report.head_seq, report.head_hash) == (
        False, 1, 0, 0, GENESIS)
    assert report.reason.startswith("hash mismatch: row 1")


# -- concurrency ------------------------------------------------------------------------------------------------

def test_two_threads_appending_fifty_events_each_never_fork_the_chain(db, log):
    errors: list[BaseException] = []

    def work(actor: int) -> None:
        try:
            for i in range(50):
                with db.session() as s:
                    log.append(s, AuditAction.SIGNIN, actor_id=actor, details={"i": i})
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(actor,)) for actor in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    got = rows(db)
    assert [e.seq for e in got] == list(range(1, 101))
    assert sorted((e.actor_id, e.details["i"]) for e in got) == sorted((a, i) for a in (1, 2) for i in range(50))
    report = log.verify(db)
    assert (report.ok, report.rows) == (True, 100)


# -- participant-level access ----------------------------------------------------------------------------------

def test_participant_access_records_who_what_where_and_the_persons(db, log):
    with db.session() as s:
        event = log.record_participant_access(s, actor_id=5, tier="controlled", workspace_id="ws-1",
                                              purpose="cohort_review", person_ids=[30, 10, 20, 10], cohort=42,
                                              cdr_version="C2026Q1", ip="10.1.1.1")
    (row,) = rows(db)
    assert (row.seq, row.action, row.actor_id, row.target_user_id, row.ip) == (
        event.seq, "participant_access", 5, None, "10.1.1.1")
    assert row.details == {
        "tier": "controlled", "workspace_id": "ws-1", "purpose": "cohort_review", "cohort": 42,
        "cdr_version": "C2026Q1",
        "persons": {"count": 3, "ids": [10, 20, 30], "sha256": hashlib.sha256(b"10,20,30").hexdigest()},
    }


def test_participant_access_lists_the_first_hundred_persons_with_the_count_and_a_digest_of_all(db, log):
    with db.session() as s:
        log.record_participant_access(s, actor_id=5, tier="registered", workspace_id=3, purpose="dataset_export",
                                      person_ids=range(250, 0, -1))
    (row,) = rows(db)
    everyone = ",".join(str(i) for i in range(1, 251)).encode()
    assert row.details["persons"] == {"count": 250, "ids": list(range(1, 101)),
                                      "sha256": hashlib.sha256(everyone).hexdigest()}
    assert (row.details["cohort"], row.details["cdr_version"]) == (None, None)


def test_participant_access_without_person_ids_records_persons_as_null(db, log):
    with db.session() as s:
        log.record_participant_access(s, actor_id=5, tier="registered", workspace_id=3, purpose="notebook_query")
    assert rows(db)[0].details["persons"] is None


def test_participant_access_refuses_an_unknown_tier_and_a_missing_purpose(db, log):
    with pytest.raises(AuditError) as err:
        with db.session() as s:
            log.record_participant_access(s, actor_id=5, tier="public", workspace_id=3, purpose=" ")
    assert [p.where for p in err.value.problems] == ["tier", "purpose"]
    assert rows(db) == []


# -- refused input ----------------------------------------------------------------------------------------------

def test_details_that_are_not_json_are_refused_naming_where_and_nothing_is_written(db, log):
    with pytest.raises(AuditError) as err:
        with db.session() as s:
            log.append(s, AuditAction.SIGNIN, details={"when": T0, "n": [1, float("nan")], 3: "x"})
    assert [str(p) for p in err.value.problems] == [
        "details.when: datetime is not JSON-serialisable (give it as an ISO 8601 string)",
        "details.n[1]: nan is not a JSON number",
        "details: a key must be text, not int 3",
    ]
    assert rows(db) == []


def test_an_unknown_action_and_a_naive_time_are_refused(db, log):
    with pytest.raises(AuditError) as err:
        with db.session() as s:
            log.append(s, "deleted_everything", at=datetime(2026, 1, 1))
    assert [p.where for p in err.value.problems] == ["action", "at"]


def test_tuples_and_enum_members_are_stored_as_the_plain_json_that_was_hashed(db, log):
    with db.session() as s:
        log.append(s, AuditAction.TIER_GRANTED, target_user_id=1, details={"tiers": ("registered",),
                                                                           "action": AuditAction.SIGNIN})
    assert rows(db)[0].details == {"tiers": ["registered"], "action": "signin"}
    assert log.verify(db).ok


# -- checkpoints ------------------------------------------------------------------------------------------------

def test_export_checkpoint_writes_the_head_before_its_own_event_as_exact_json(db, log, tmp_path):
    with db.session() as s:
        log.append(s, AuditAction.SIGNIN, actor_id=1, at=T0)
        head = log.append(s, AuditAction.SIGNOUT, actor_id=1, at=T0 + timedelta(seconds=1, microseconds=7))
    path = tmp_path / "checkpoint.json"

    point = log.export_checkpoint(db, path, actor_id=9)

    assert path.read_text() == (
        '{\n  "seq": 2,\n  "hash": "%s",\n  "at": "2026-01-02T03:04:06.000007Z",\n  "rows": 2\n}\n' % head.hash)
    assert point == load_checkpoint(path) == {"seq": 2, "hash": head.hash, "at": "2026-01-02T03:04:06.000007Z",
                                              "rows": 2}
    assert sorted(p.name for p in tmp_path.iterdir() if "checkpoint" in p.name) == ["checkpoint.json"]
    event = rows(db)[-1]
    assert (event.seq, event.action, event.actor_id, event.details) == (
        3, "checkpoint_exported", 9, {"seq": 2, "hash": head.hash, "path": str(path)})
    report = log.verify(db, checkpoints=[load_checkpoint(path)])
    assert (report.ok, report.rows) == (True, 3)


def test_the_checkpoint_of_an_empty_log_is_seq_zero(db, log):
    with db.session() as s:
        assert log.checkpoint(s) == {"seq": 0, "hash": GENESIS, "at": None, "rows": 0}


def test_a_checkpoint_file_that_cannot_be_written_logs_nothing(db, log, tmp_path):
    with pytest.raises(AuditError, match="cannot write the checkpoint"):
        log.export_checkpoint(db, tmp_path / "no-such-dir" / "checkpoint.json")
    assert rows(db) == []


def test_a_malformed_checkpoint_is_refused(log, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"seq": -1, "hash": "abc"}')
    with pytest.raises(AuditError) as err:
        load_checkpoint(path)
    assert [p.where for p in err.value.problems] == [f"{path}: seq", f"{path}: hash"]


# -- the admin viewer -------------------------------------------------------------------------------------------

def test_events_come_newest_first_filtered_and_paged(db, log):
    append_three(db, log)
    with db.session() as s:
        assert [e.seq for e in log.events(s)] == [3, 2, 1]
        assert [e.seq for e in log.events(s, action="signin")] == [2]
        assert [e.seq for e in log.events(s, actor_id=1)] == [2, 1]
        assert [e.seq for e in log.events(s, target_user_id=1)] == [3, 1]
        assert [e.seq for e in log.events(s, involving=9)] == [3]
        assert [e.seq for e in log.events(s, before_seq=3, limit=1)] == [2]


# -- scale ------------------------------------------------------------------------------------------------------

def test_verify_walks_a_hundred_thousand_rows_quickly(tmp_path, log):
    db = Database(sqlite_url(tmp_path / "big.sqlite"))
    db.upgrade()
    prev, batch = GENESIS, []
    for seq in range(1, 100_001):
        at = T0 + timedelta(seconds=seq)
        details = {"i": seq, "module": "rt_training"}
        h = chain_hash(KEY, prev, seq, at, "module_completed", seq % 50, seq % 50, "10.0.0.1", details)
        batch.append({"seq": seq, "at": at, "action": "module_completed", "actor_id": seq % 50,
                      "target_user_id": seq % 50, "ip": "10.0.0.1", "details": details, "prev_hash": prev,
                      "hash": h})
        prev = h
    with db.session() as s:
        s.execute(insert(AuditEvent), batch)

    started = time.perf_counter()
    report = log.verify(db)
    elapsed = time.perf_counter() - started

    assert (report.ok, report.rows, report.head_seq, report.head_hash) == (True, 100_000, 100_000, prev)
    assert elapsed < 10, f"verify took {elapsed:.1f}s"
    db.dispose()
