"""The SQLite state file: schema version, WAL, transactions, outbox uniqueness, corrupt files."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from worker.errors import StateError
from worker.core.model import Attendee, Recipient
from worker.store.state import MIGRATIONS, StateStore

NOW = datetime(2027, 1, 1, tzinfo=timezone.utc)


def test_new_file_has_schema_and_wal(tmp_path):
    with StateStore(tmp_path / "s.db") as store:
        assert store.schema_version() == len(MIGRATIONS)
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path):
    StateStore(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer webinar-worker"):
        StateStore(tmp_path / "s.db")


def test_corrupt_file_is_a_clear_error(tmp_path):
    (tmp_path / "s.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="cannot open the state database"):
        StateStore(tmp_path / "s.db")


def test_outbox_row_per_session_kind_recipient(tmp_path):
    with StateStore(tmp_path / "s.db") as store:
        people = [Recipient("a@x.org", "A"), Recipient("b@x.org", "B")]
        assert store.queue_mail("s/2027-01-07", "invitation", 0, people, NOW, {"invited_at": NOW}) == 2
        assert store.queue_mail("s/2027-01-07", "invitation", 0, people, NOW) == 0
        rows = store.pending_mail(10)
        store.mark_mail(rows[0].id, "sent", NOW)
        assert [r.email for r in store.pending_mail(10)] == ["b@x.org"]
        assert store.mailed("s/2027-01-07", "invitation", ("sent",)) == [Recipient("a@x.org", "A")]
        assert store.session("s/2027-01-07").invited_at == NOW


def test_failed_transaction_changes_nothing(tmp_path):
    with StateStore(tmp_path / "s.db") as store:
        class Boom:
            email = "a@x.org"
            name = "A"

        with pytest.raises(AttributeError):
            store.queue_mail("s/2027-01-07", "invitation", 0, [Boom(), object()], NOW, {"invited_at": NOW})
        assert store.pending_mail(10) == [] and store.session("s/2027-01-07") is None


def test_attendance_replaced_not_duplicated(tmp_path):
    t = NOW
    a = Attendee("Ani", "ani@x.org", t, t + timedelta(minutes=50), 50, 2)
    with StateStore(tmp_path / "s.db") as store:
        store.update_session("s/2027-01-07", NOW, meeting_id="1")
        store.store_attendance("s/2027-01-07", [a], NOW)
        store.store_attendance("s/2027-01-07", [a], NOW)
        assert store.attendance("s/2027-01-07") == [a]
        assert store.session("s/2027-01-07").attendance_state == "stored"


def test_retries_count_and_clear(tmp_path):
    with StateStore(tmp_path / "s.db") as store:
        store.record_failure("s/1", "create_meeting", "boom", NOW)
        r = store.record_failure("s/1", "create_meeting", "boom again", NOW + timedelta(minutes=2))
        assert r.attempts == 2 and r.last_error == "boom again"
        assert store.clear_failure("s/1", "create_meeting") and store.retries() == {}


def test_old_schema_is_migrated_keeping_data(tmp_path):
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute("INSERT INTO sessions (uid, series, key, meeting_id) VALUES ('s/2027-01-07', 's', '2027-01-07', '42')")
    db.execute("INSERT INTO outbox (uid, kind, email, queued_at) VALUES ('s/2027-01-07', 'invitation', 'a@x.id', 't')")
    db.commit()
    db.close()
    with StateStore(tmp_path / "s.db") as store:
        assert store.schema_version() == len(MIGRATIONS) == 10
        row = store.session("s/2027-01-07")
        assert row.meeting_id == "42" and row.thanked_at is None
        [mail] = store.pending_mail(10, now=datetime(2027, 1, 1, tzinfo=timezone.utc))
        assert mail.email == "a@x.id" and mail.next_at is None


def test_two_processes_opening_a_new_state_file_at_once_both_end_on_the_last_schema(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "new.db"
    code = ("import sys; from worker.store.state import StateStore, MIGRATIONS\n"
            "s = StateStore(sys.argv[1]); assert s.schema_version() == len(MIGRATIONS); s.close()")
    for _ in range(5):  # a race: several rounds on fresh files make a lost one likely to show
        path.unlink(missing_ok=True)
        children = [subprocess.Popen([sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE, text=True)
                    for _ in range(4)]
        errors = [child.communicate()[1] for child in children]
        assert all(child.returncode == 0 for child in children), errors
