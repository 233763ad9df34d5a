"""The worker's memory: a SQLite file (WAL mode) of what exists remotely and what was sent.

Every write is its own transaction, so a crash loses at most the step in flight, and the
next tick's plan recovers it (see worker.core.reconcile). The schema is versioned; migrations run
on open, in order, inside a transaction.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
from dataclasses import fields
from datetime import date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable, Sequence

from worker.core.certnumber import CertificateRecord, number_slug
from worker.core.mailkinds import BEFORE_START_KINDS, MailKind, MailStatus
from worker.core.model import Attendee, Recipient, Registrant, SessionKey
from worker.core.records import MAIL_STATUSES, AttendanceState, OutboxRow, Retry, SessionState, iso, parse_iso
from worker.crashpoint import crashpoint
from worker.errors import StateError
from worker.i18n import N_

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE sessions (
        uid TEXT PRIMARY KEY,
        series TEXT NOT NULL,
        key TEXT NOT NULL,
        snapshot TEXT NOT NULL DEFAULT '',
        meeting_id TEXT NOT NULL DEFAULT '',
        meeting_uuid TEXT NOT NULL DEFAULT '',
        join_url TEXT NOT NULL DEFAULT '',
        passcode TEXT NOT NULL DEFAULT '',
        meeting_spec TEXT NOT NULL DEFAULT '',
        meeting_fp TEXT NOT NULL DEFAULT '',
        meeting_deleted INTEGER NOT NULL DEFAULT 0,
        event_id TEXT NOT NULL DEFAULT '',
        event_fp TEXT NOT NULL DEFAULT '',
        event_cancelled INTEGER NOT NULL DEFAULT 0,
        sequence INTEGER NOT NULL DEFAULT 0,
        notice_fp TEXT NOT NULL DEFAULT '',
        notice_snapshot TEXT NOT NULL DEFAULT '',
        invited_at TEXT NOT NULL DEFAULT '',
        reminded_at TEXT NOT NULL DEFAULT '',
        cancel_noticed_at TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        attendance_state TEXT NOT NULL DEFAULT '',
        attendance_at TEXT NOT NULL DEFAULT '',
        attendees INTEGER NOT NULL DEFAULT 0,
        sheet_synced_at TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL,
        kind TEXT NOT NULL,
        round INTEGER NOT NULL DEFAULT 0,
        email TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        queued_at TEXT NOT NULL,
        sent_at TEXT NOT NULL DEFAULT '',
        context TEXT NOT NULL DEFAULT '',
        UNIQUE (uid, kind, round, email)
    );
    CREATE INDEX outbox_status ON outbox (status, id);
    CREATE TABLE attendance (
        uid TEXT NOT NULL,
        person TEXT NOT NULL,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        first_join TEXT NOT NULL,
        last_leave TEXT NOT NULL,
        minutes INTEGER NOT NULL,
        joins INTEGER NOT NULL,
        PRIMARY KEY (uid, person)
    );
    CREATE TABLE retries (
        uid TEXT NOT NULL,
        step TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_at TEXT NOT NULL,
        last_error TEXT NOT NULL,
        PRIMARY KEY (uid, step)
    );
    """,
    # 2: post-session follow-up (thank-you mail with certificate)
    """
    ALTER TABLE sessions ADD COLUMN thanked_at TEXT NOT NULL DEFAULT ''
    """,
    # 3: a mail the server deferred for one recipient waits on its own, without holding the others
    """
    ALTER TABLE outbox ADD COLUMN next_at TEXT NOT NULL DEFAULT ''
    """,
    # 4: a meeting create that was sent but whose answer was never saved (crash): found again by its marker
    """
    ALTER TABLE sessions ADD COLUMN create_started_at TEXT NOT NULL DEFAULT ''
    """,
    # 5: e-certificates with running numbers (unique, never reused: the counter lives in meta)
    """
    CREATE TABLE certificates (
        number TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        slug TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        email TEXT NOT NULL,
        name TEXT NOT NULL,
        title TEXT NOT NULL,
        held_on TEXT NOT NULL,
        minutes INTEGER NOT NULL,
        jp INTEGER NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        issued_at TEXT NOT NULL,
        reissues INTEGER NOT NULL DEFAULT 0,
        UNIQUE (kind, subject, email)
    );
    INSERT OR IGNORE INTO meta VALUES ('certificate_seq', '0')
    """,
    # 6: an outbox row is claimed (status 'sending') in a transaction before it goes to SMTP, so two
    # processes never send the same row; a claim left by a process that died is released on restart
    """
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbox ADD COLUMN claimed_at TEXT NOT NULL DEFAULT ''
    """,
    # 7: Zoom registration: each invitee's registrant id and personal link; attendance tied to people
    """
    CREATE TABLE registrants (
        uid TEXT NOT NULL,
        email TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        registrant_id TEXT NOT NULL DEFAULT '',
        join_url TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'approved',
        updated_at TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (uid, email)
    );
    ALTER TABLE sessions ADD COLUMN registration_url TEXT NOT NULL DEFAULT '';
    ALTER TABLE attendance ADD COLUMN registrant_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE attendance ADD COLUMN registered_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE attendance ADD COLUMN identified INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE attendance ADD COLUMN staff INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE attendance ADD COLUMN internal INTEGER NOT NULL DEFAULT 0
    """,
    # 8: flags that were text: a note before the invitations meant "skipped", notice_fp 'reinstated' meant
    # "a change notice is owed" (the note stays as the human note it also was)
    """
    ALTER TABLE sessions ADD COLUMN invitations_skipped INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN reinstated INTEGER NOT NULL DEFAULT 0;
    UPDATE sessions SET invitations_skipped=1 WHERE invited_at='' AND note!='';
    UPDATE sessions SET reinstated=1, notice_fp='' WHERE notice_fp='reinstated'
    """,
    # 9: mail within the provider's limits: recipients sent in the last 24 hours are counted from
    # outbox.sent_at (indexed); addresses the server said do not exist are suppressed; the outbox
    # hold (until when, why) lives in meta under mail_hold_until / mail_hold_reason
    """
    CREATE INDEX outbox_sent_at ON outbox (sent_at);
    CREATE TABLE suppressed (
        email TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        uid TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL
    )
    """,
    # 10: remote calls at the minimum (issue 18): the attendance spreadsheet's layout as the last sync left
    # it (tab ids, chart, rows per tab, the summary's row per date), so a sync makes no read; keyed by
    # spreadsheet id and summary tab. (The "create attempted" marker is sessions.create_started_at, from 4.)
    """
    CREATE TABLE sheet_layouts (
        spreadsheet TEXT PRIMARY KEY,
        layout TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
)
REGISTRANT_STATUSES = ("approved", "cancelled", "refused", "self")
"""approved: registered by the worker; refused: Zoom would not take the address; self: registered on Zoom's page."""

STALE_CLAIM = timedelta(hours=1)  # a claim this old is released even when its owner cannot be checked
PRIVATE_MODE = 0o600  # state.db, -wal and -shm: names, e-mails, join URLs and passcodes

_SESSION_FIELDS = tuple(f.name for f in fields(SessionState) if f.name != "key")  # columns beside uid, series, key
_TIME_FIELDS = frozenset(f.name for f in fields(SessionState) if "datetime" in str(f.type))  # ISO text, '' = None
_BOOL_FIELDS = frozenset(f.name for f in fields(SessionState) if f.type == "bool")  # INTEGER 0/1


def _column(value: object) -> object:
    """A record value as SQLite stores it: ISO UTC text ('' for None), 0/1, an enum's value."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


def _time(text: str) -> datetime | None:
    """Stored ISO text as an aware datetime, None for ''."""
    return parse_iso(text) if text else None


def _session_state(row: sqlite3.Row) -> SessionState:
    """One ``sessions`` row as a typed record."""
    values: dict[str, object] = {}
    for name in _SESSION_FIELDS:
        value = row[name]
        if name in _TIME_FIELDS:
            value = _time(value)
        elif name in _BOOL_FIELDS:
            value = bool(value)
        elif name == "attendance_state":
            value = AttendanceState(value)
        values[name] = value
    return SessionState(key=SessionKey.parse(row["uid"]), **values)


def _outbox_row(r: sqlite3.Row) -> OutboxRow:
    """One ``outbox`` row as a typed record."""
    return OutboxRow(id=r["id"], uid=r["uid"], kind=MailKind(r["kind"]), round=r["round"], email=r["email"],
                     name=r["name"], status=MailStatus(r["status"]), attempts=r["attempts"],
                     last_error=r["last_error"], context=r["context"], next_at=_time(r["next_at"]),
                     claimed_by=r["claimed_by"], claimed_at=_time(r["claimed_at"]))


class StateStore:
    """SQLite-backed state; one instance per process, used from one thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)  # the database file (":memory:" for a dry run without one)
        self.owner = f"{os.getpid()}@{socket.gethostname()}"  # who claims outbox rows from this process
        in_memory = str(path) == ":memory:"
        # The file holds names, e-mails, join URLs and passcodes: only its owner may read it. SQLite
        # creates -wal and -shm with the main file's mode, ignoring the umask (its test/journal3.test:
        # "umask is deliberately ignored for -wal, -journal, and -shm files"); the umask covers the
        # main file at the moment of creation, and _make_private an older file.
        old_umask = os.umask(0o077)
        try:
            if not in_memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            if not in_memory:
                self._make_private()
        except sqlite3.DatabaseError as exc:
            raise StateError(N_("{path}: cannot open the state database ({problem})"), path=self.path,
                             problem=exc) from None
        except OSError as exc:
            raise StateError(N_("{path}: cannot create the state database ({problem})"), path=self.path,
                             problem=exc) from None
        finally:
            os.umask(old_umask)

    def _make_private(self) -> None:
        """chmod 600 the database and its WAL files (also fixes a file made 0644 by an older version)."""
        for suffix in ("", "-wal", "-shm"):
            target = self.path.with_name(self.path.name + suffix)
            if target.exists() and target.stat().st_mode & 0o777 != PRIVATE_MODE:
                os.chmod(target, PRIVATE_MODE)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> "StateStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ------------------------------------------------------------
    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row["value"]) if row else 0
        if version > len(MIGRATIONS):
            raise StateError(N_("{path}: written by a newer webinar-worker (schema {version}); upgrade the worker"),
                             path=self.path, version=version)
        for number in range(version + 1, len(MIGRATIONS) + 1):
            with self._tx():
                # Re-read under the write lock: another process opening the same file (status beside a
                # starting run) may have applied this migration since we looked.
                row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row and int(row["value"]) >= number:
                    continue
                self._run_script(MIGRATIONS[number - 1])
                crashpoint("state.migration")
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(number),))

    def _run_script(self, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                self._db.execute(statement)

    def schema_version(self) -> int:
        """The schema version of the open database."""
        return int(self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    def _tx(self) -> "_Transaction":
        return _Transaction(self._db)

    def transaction(self) -> "_Transaction":
        """One transaction around several store calls (``with store.transaction(): ...``): all or nothing."""
        return _Transaction(self._db)

    # -- sessions ----------------------------------------------------------
    def sessions(self) -> dict[str, SessionState]:
        """Every session row, by uid."""
        rows = self._db.execute(f"SELECT uid, {', '.join(_SESSION_FIELDS)} FROM sessions ORDER BY key").fetchall()
        return {r["uid"]: _session_state(r) for r in rows}

    def session(self, uid: str | SessionKey) -> SessionState | None:
        """One session row, or None."""
        row = self._db.execute(f"SELECT uid, {', '.join(_SESSION_FIELDS)} FROM sessions WHERE uid=?",
                               (str(uid),)).fetchone()
        return _session_state(row) if row else None

    def update_session(self, uid: str | SessionKey, now: datetime, **changes: object) -> SessionState:
        """Create the row if needed and set ``changes`` (datetimes, booleans, enums), in one transaction."""
        with self._tx():
            self._write_session(uid, now, changes)
        state = self.session(uid)
        assert state is not None
        return state

    def _write_session(self, uid: str | SessionKey, now: datetime, changes: dict[str, object]) -> None:
        """Inside a transaction: create the row if needed and set ``changes``."""
        unknown = set(changes) - set(_SESSION_FIELDS) - {"updated_at"}
        if unknown:
            raise StateError(f"unknown session fields: {sorted(unknown)}")
        key = uid if isinstance(uid, SessionKey) else SessionKey.parse(uid)
        columns = {name: _column(value) for name, value in {**changes, "updated_at": now}.items()}
        self._db.execute("INSERT OR IGNORE INTO sessions (uid, series, key) VALUES (?, ?, ?)",
                         (str(key), key.series, key.day))
        assignments = ", ".join(f"{name}=?" for name in columns)
        self._db.execute(f"UPDATE sessions SET {assignments} WHERE uid=?", (*columns.values(), str(key)))

    # -- outbox ------------------------------------------------------------
    def queue_mail(self, uid: str, kind: str, round_: int, recipients: Iterable[Recipient],
                   now: datetime, session_changes: dict[str, object] | None = None,
                   context: str = "", skip_pending: bool = False) -> int:
        """Add outbox rows (existing ones are left alone) and update the session, atomically.

        ``skip_pending`` first drops the session's unsent mail (used for cancellations).
        """
        added = 0
        with self._tx():
            if skip_pending:
                self._db.execute("UPDATE outbox SET status='skipped', last_error='session cancelled' "
                                 "WHERE uid=? AND status='pending' AND kind != ?", (uid, MailKind.CANCELLATION.value))
            for r in recipients:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (uid, kind, round, email, name, queued_at, context) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (str(uid), MailKind(kind).value, round_, r.email, r.name, iso(now), context))
                added += cur.rowcount
                crashpoint("state.queue_mail.in_transaction")
            if session_changes:
                self._write_session(uid, now, session_changes)
        return added

    def pending_mail(self, limit: int, uids: Sequence[str] | None = None,
                     now: datetime | None = None, series: str | None = None) -> list[OutboxRow]:
        """The oldest pending outbox rows (with ``now``: only those not deferred past it), optionally for some
        sessions or one series."""
        sql = "SELECT * FROM outbox WHERE status='pending'"
        args: list[object] = []
        if series is not None:
            # by the uid's own series part, as the engine counts them: a row whose session has no
            # sessions row yet (or any more) is still this series' to send or to fail
            sql += " AND substr(uid, 1, ?) = ?"
            args += [len(series) + 1, f"{series}/"]
        if now is not None:
            sql += " AND next_at <= ?"
            args.append(iso(now))
        if uids is not None:
            sql += f" AND uid IN ({', '.join('?' * len(uids))})"
            args += list(uids)
        # the most urgent first: by the kind's urgency (MailKind), then the nearest session, then queue order
        urgency = " ".join(f"WHEN '{k.value}' THEN {k.urgency}" for k in MailKind)
        sql += f" ORDER BY CASE kind {urgency} ELSE 99 END, substr(uid, instr(uid, '/') + 1), id LIMIT ?"
        rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [_outbox_row(r) for r in rows]

    def mark_mail(self, row_id: int, status: str, now: datetime, error: str = "",
                  next_at: datetime | None = None) -> None:
        """Record the outcome of one send (sent, failed, skipped, or pending again, perhaps not before ``next_at``)."""
        if status not in MAIL_STATUSES:
            raise StateError(f"unknown mail status {status!r}")
        status = MailStatus(status).value
        sent_at = iso(now) if status == MailStatus.SENT else ""
        with self._tx():
            self._db.execute(
                "UPDATE outbox SET status=?, attempts=attempts+1, last_error=?, sent_at=?, next_at=? WHERE id=?",
                (status, error[:500], sent_at, iso(next_at) if next_at else "", row_id))

    def claim_mail(self, row_id: int, now: datetime) -> bool:
        """Take one pending row for sending (status 'sending'); False when another process has it or it is done.

        BEGIN IMMEDIATE takes SQLite's write lock first, so of two processes claiming the same row
        exactly one sees it still pending.
        """
        with self._tx():
            cur = self._db.execute("UPDATE outbox SET status='sending', claimed_by=?, claimed_at=? "
                                   "WHERE id=? AND status='pending'", (self.owner, iso(now), row_id))
        return cur.rowcount == 1

    def release_claims(self, now: datetime, stale: timedelta = STALE_CLAIM) -> int:
        """Put back to pending the rows left 'sending' by a process that died; return how many.

        A claim is released when its owner ran on this machine and is gone, or when it is older than
        ``stale``. Such a row may have been accepted by the server just before the crash, so it can
        go out once more: at most one repeat per crash, and nothing is lost.
        """
        rows = self._db.execute("SELECT id, claimed_by, claimed_at FROM outbox WHERE status='sending'").fetchall()
        dead = [r["id"] for r in rows if _claim_abandoned(r["claimed_by"], r["claimed_at"], now - stale)]
        if not dead:
            return 0
        with self._tx():
            for row_id in dead:
                self._db.execute("UPDATE outbox SET status='pending', claimed_by='', last_error=? "
                                 "WHERE id=? AND status='sending'",
                                 ("released after the sending process stopped; may repeat once", row_id))
        return len(dead)

    def unclaim_mail(self, row_id: int, error: str) -> None:
        """Put a claimed row back to pending without counting an attempt (the server held all mail, not this one)."""
        with self._tx():
            self._db.execute("UPDATE outbox SET status='pending', claimed_by='', last_error=? "
                             "WHERE id=? AND status='sending'", (error[:500], row_id))

    def sent_since(self, since: datetime) -> list[datetime]:
        """When each recipient sent after ``since`` was accepted, oldest first (the rolling daily count)."""
        rows = self._db.execute("SELECT sent_at FROM outbox WHERE sent_at > ? AND status='sent' ORDER BY sent_at",
                                (iso(since),))
        return [t for r in rows if (t := _time(r["sent_at"])) is not None]

    def mail_hold(self) -> tuple[datetime | None, str]:
        """Until when the whole outbox waits, and why; (None, "") when it does not."""
        return _time(self.meta_value("mail_hold_until")), self.meta_value("mail_hold_reason")

    def hold_mail(self, until: datetime, reason: str) -> None:
        """Hold the whole outbox until ``until`` (a provider's limit or the daily cap)."""
        with self._tx():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('mail_hold_until', ?)", (iso(until),))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('mail_hold_reason', ?)", (reason[:500],))

    def suppress(self, email: str, reason: str, uid: str, now: datetime) -> None:
        """Put an address the server said does not exist on the suppression list (later sessions skip it)."""
        with self._tx():
            self._db.execute("INSERT OR REPLACE INTO suppressed VALUES (?, ?, ?, ?)",
                             (email.lower(), reason[:500], uid, iso(now)))

    def suppressed(self) -> dict[str, tuple[str, str, datetime | None]]:
        """Suppressed address -> (why, which session's mail bounced, when)."""
        return {r["email"]: (r["reason"], r["uid"], _time(r["at"]))
                for r in self._db.execute("SELECT * FROM suppressed ORDER BY email")}

    def due_mail_counts(self, now: datetime) -> dict[str, int]:
        """Pending rows per session uid that may be tried at ``now`` (deferred ones left out)."""
        rows = self._db.execute("SELECT uid, COUNT(*) n FROM outbox WHERE status='pending' AND next_at <= ? "
                                "GROUP BY uid", (iso(now),))
        return {r["uid"]: r["n"] for r in rows}

    def skip_pending(self, uid: str, reason: str, kinds: Sequence[str] = BEFORE_START_KINDS) -> int:
        """Mark a session's pending mail of ``kinds`` skipped (its moment has passed)."""
        with self._tx():
            cur = self._db.execute(
                f"UPDATE outbox SET status='skipped', last_error=? WHERE uid=? AND status='pending' "
                f"AND kind IN ({', '.join('?' * len(kinds))})", (reason, uid, *kinds))
        return cur.rowcount

    def mail_counts(self) -> dict[str, dict[tuple[str, str], int]]:
        """Counts per session uid, keyed by (kind, status)."""
        result: dict[str, dict[tuple[str, str], int]] = {}
        for r in self._db.execute("SELECT uid, kind, status, COUNT(*) n FROM outbox GROUP BY uid, kind, status"):
            result.setdefault(r["uid"], {})[(r["kind"], r["status"])] = r["n"]
        return result

    def mailed(self, uid: str, kind: str, statuses: Sequence[str] = ("pending", "sent")) -> list[Recipient]:
        """Recipients with an outbox row of ``kind`` for a session, in the given statuses."""
        rows = self._db.execute(
            f"SELECT DISTINCT email, name FROM outbox WHERE uid=? AND kind=? AND status IN ({', '.join('?' * len(statuses))}) ORDER BY email",
            (uid, kind, *statuses)).fetchall()
        return [Recipient(r["email"], r["name"]) for r in rows]

    def mailed_emails(self, kind: str) -> dict[str, frozenset[str]]:
        """Per session uid, the addresses that have an outbox row of ``kind`` (any status)."""
        result: dict[str, set[str]] = {}
        for r in self._db.execute("SELECT uid, email FROM outbox WHERE kind=?", (kind,)):
            result.setdefault(r["uid"], set()).add(r["email"])
        return {k: frozenset(v) for k, v in result.items()}

    # -- attendance --------------------------------------------------------
    def store_attendance(self, uid: str, attendees: Sequence[Attendee], now: datetime) -> None:
        """Replace a session's attendance and mark it stored, atomically: one transaction, one statement for the rows."""
        rows = sorted(((uid, _attendance_person(a), a.name, a.email, iso(a.first_join), iso(a.last_leave), a.minutes,
                        a.joins, a.registrant_id, a.registered_name, int(a.identified), int(a.staff), int(a.internal))
                       for a in attendees), key=lambda row: row[1])  # key order: each insert appends to the index
        with self._tx():
            self._db.execute("DELETE FROM attendance WHERE uid=?", (uid,))
            self._db.executemany(
                "INSERT OR REPLACE INTO attendance (uid, person, name, email, first_join, last_leave, minutes, "
                "joins, registrant_id, registered_name, identified, staff, internal) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows)
            self._db.execute(
                "UPDATE sessions SET attendance_state='stored', attendance_at=?, attendees=?, updated_at=? WHERE uid=?",
                (iso(now), sum(1 for a in attendees if not a.staff), iso(now), uid))  # staff are not audience

    def attendance(self, uid: str) -> list[Attendee]:
        """Stored attendance of a session, in join order."""
        rows = self._db.execute("SELECT * FROM attendance WHERE uid=? ORDER BY first_join, name", (uid,)).fetchall()
        return [Attendee(r["name"], r["email"], parse_iso(r["first_join"]), parse_iso(r["last_leave"]),
                         r["minutes"], r["joins"], registrant_id=r["registrant_id"],
                         registered_name=r["registered_name"], identified=bool(r["identified"]),
                         staff=bool(r["staff"]), internal=bool(r["internal"])) for r in rows]

    # -- registrants -------------------------------------------------------
    def save_registrants(self, uid: str, registrants: Sequence[Registrant], now: datetime,
                         status: str = "approved") -> None:
        """Record people as registered (or refused) for a session, in one transaction."""
        if status not in REGISTRANT_STATUSES:
            raise StateError(f"unknown registrant status {status!r}")
        with self._tx():
            for r in registrants:
                self._db.execute(
                    "INSERT INTO registrants VALUES (?,?,?,?,?,?,?) ON CONFLICT (uid, email) DO UPDATE SET "
                    "name=excluded.name, registrant_id=excluded.registrant_id, join_url=excluded.join_url, "
                    "status=excluded.status, updated_at=excluded.updated_at",
                    (uid, r.email.lower(), r.name, r.registrant_id, r.join_url, status, iso(now)))

    def set_registrant_status(self, uid: str, emails: Sequence[str], status: str, now: datetime) -> None:
        """Change the status of some of a session's registrants (e.g. cancelled after an unsubscribe)."""
        if status not in REGISTRANT_STATUSES:
            raise StateError(f"unknown registrant status {status!r}")
        with self._tx():
            for email in emails:
                self._db.execute("UPDATE registrants SET status=?, updated_at=? WHERE uid=? AND email=?",
                                 (status, iso(now), uid, email.lower()))

    def registrants(self, uid: str, statuses: Sequence[str] = ("approved",)) -> list[Registrant]:
        """A session's registrants in the given statuses, by address."""
        rows = self._db.execute(
            f"SELECT * FROM registrants WHERE uid=? AND status IN ({', '.join('?' * len(statuses))}) ORDER BY email",
            (uid, *statuses)).fetchall()
        return [Registrant(r["email"], r["name"], r["registrant_id"], r["join_url"]) for r in rows]

    def registered_emails(self, statuses: Sequence[str] = ("approved", "refused")) -> dict[str, frozenset[str]]:
        """Per session uid, the addresses the worker has registered (or tried to: refused ones)."""
        result: dict[str, set[str]] = {}
        rows = self._db.execute(
            f"SELECT uid, email FROM registrants WHERE status IN ({', '.join('?' * len(statuses))})", tuple(statuses))
        for r in rows:
            result.setdefault(r["uid"], set()).add(r["email"])
        return {k: frozenset(v) for k, v in result.items()}

    # -- retries -----------------------------------------------------------
    def record_failure(self, uid: str, step: str, error: str, next_at: datetime) -> Retry:
        """Count one more failure of a step and when it may run again."""
        with self._tx():
            self._db.execute(
                "INSERT INTO retries VALUES (?,?,1,?,?) ON CONFLICT (uid, step) DO UPDATE SET "
                "attempts=attempts+1, next_at=excluded.next_at, last_error=excluded.last_error",
                (uid, step, iso(next_at), error[:500]))
        return self.retries()[(uid, step)]

    def clear_failure(self, uid: str, step: str) -> bool:
        """Forget a step's failures after it succeeded; True when there were some."""
        with self._tx():
            cur = self._db.execute("DELETE FROM retries WHERE uid=? AND step=?", (uid, step))
        return cur.rowcount > 0

    def retries(self) -> dict[tuple[str, str], Retry]:
        """Every step waiting to be retried, by (uid, step)."""
        rows = self._db.execute("SELECT * FROM retries").fetchall()
        return {(r["uid"], r["step"]): Retry(r["uid"], r["step"], r["attempts"], parse_iso(r["next_at"]),
                                            r["last_error"]) for r in rows}

    # -- certificates --------------------------------------------------------
    def issue_certificate(self, *, kind: str, subject: str, email: str, name: str, title: str, held_on: date,
                          minutes: int, jp: int, number_for: Callable[[int], str], now: datetime,
                          detail: str = "") -> CertificateRecord:
        """The certificate of ``email`` for ``subject``: the one issued before, or a new one.

        A new one takes the next running number (``number_for(seq)`` formats it); the counter
        only grows, so a number is never given twice, across restarts and re-sends alike.
        """
        email = email.strip().lower()
        with self._tx():
            found = self._certificate_where("kind=? AND subject=? AND email=?", (kind, subject, email))
            if found is not None:
                return found
            seq = int(self._db.execute("SELECT value FROM meta WHERE key='certificate_seq'").fetchone()[0]) + 1
            number = number_for(seq)
            slug = number_slug(number)
            if self._db.execute("SELECT 1 FROM certificates WHERE slug=? OR number=?", (slug, number)).fetchone():
                raise StateError(N_("certificate number {number} is already taken; the number format must keep "
                                    "{{seq}} so numbers stay unique"), number=repr(number))
            self._db.execute("UPDATE meta SET value=? WHERE key='certificate_seq'", (str(seq),))
            self._db.execute(
                "INSERT INTO certificates (number, seq, slug, kind, subject, email, name, title, held_on, minutes, jp, "
                "detail, issued_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (number, seq, slug, kind, subject, email, name, title, held_on.isoformat(), minutes, jp, detail,
                 iso(now)))
            found = self._certificate_where("number=?", (number,))
        assert found is not None
        return found

    def certificates(self, kind: str | None = None) -> list[CertificateRecord]:
        """Every certificate (or those of one kind), in number order."""
        sql, args = "SELECT * FROM certificates", ()
        if kind is not None:
            sql, args = sql + " WHERE kind=?", (kind,)
        return [_certificate(r) for r in self._db.execute(sql + " ORDER BY seq", args).fetchall()]

    def certificate(self, number_or_slug: str) -> CertificateRecord | None:
        """One certificate by its number or its slug."""
        text = number_or_slug.strip()
        return self._certificate_where("number=? OR slug=?", (text, text))

    def _certificate_where(self, where: str, args: tuple) -> CertificateRecord | None:
        row = self._db.execute(f"SELECT * FROM certificates WHERE {where}", args).fetchone()
        return _certificate(row) if row else None

    def reissue_certificate(self, number: str, name: str, now: datetime, context: str) -> bool:
        """Print ``name`` on certificate ``number`` from now on and mail it once more, atomically.

        A thank-you still waiting in the outbox simply carries the new name; otherwise one new
        thank-you row is queued (its round is the re-issue count, so a retry cannot queue two).
        False when the certificate already carries ``name``.
        """
        with self._tx():
            cert = self._certificate_where("number=?", (number,))
            if cert is None or cert.name == name:
                return False
            reissues = cert.reissues + 1
            self._db.execute("UPDATE certificates SET name=?, reissues=? WHERE number=?", (name, reissues, number))
            if cert.kind != "session":
                return True
            cur = self._db.execute("UPDATE outbox SET name=? WHERE uid=? AND kind='thankyou' AND email=? "
                                   "AND status='pending'", (name, cert.subject, cert.email))
            if cur.rowcount == 0:
                self._db.execute("INSERT OR IGNORE INTO outbox (uid, kind, round, email, name, queued_at, context) "
                                 "VALUES (?,?,?,?,?,?,?)", (cert.subject, "thankyou", reissues, cert.email, name,
                                                            iso(now), context))
        return True

    def update_certificate(self, number: str, *, minutes: int, jp: int, detail: str) -> None:
        """Refresh what a transcript lists (its number and name stay)."""
        with self._tx():
            self._db.execute("UPDATE certificates SET minutes=?, jp=?, detail=? WHERE number=?",
                             (minutes, jp, detail, number))

    def sheet_layout(self, spreadsheet: str) -> dict | None:
        """The spreadsheet's layout as the last sync saved it (see integrations.google_sheets); None if none."""
        row = self._db.execute("SELECT layout FROM sheet_layouts WHERE spreadsheet=?", (spreadsheet,)).fetchone()
        if row is None:
            return None
        try:
            layout = json.loads(row["layout"])
        except ValueError:  # a damaged copy is only a cache: the next sync reads the sheet again
            return None
        return layout if isinstance(layout, dict) else None

    def save_sheet_layout(self, spreadsheet: str, layout: dict, now: datetime) -> None:
        """Keep the spreadsheet's layout after a sync."""
        with self._tx():
            self._db.execute("INSERT OR REPLACE INTO sheet_layouts VALUES (?, ?, ?)",
                             (spreadsheet, json.dumps(layout, sort_keys=True), iso(now)))

    def meta_value(self, key: str) -> str:
        """A value kept in the ``meta`` table ("" when unset)."""
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row["value"] if row else ""

    def set_meta_value(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` in the ``meta`` table (not the schema version)."""
        if key == "schema_version":
            raise StateError("the schema version is set by migrations only")
        with self._tx():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


def _attendance_person(a: Attendee) -> str:
    """The attendance table's key for one attendee: the e-mail, else the registrant id, else name and join."""
    return (a.email if a.identified or not a.registrant_id else "") or \
        (f"reg:{a.registrant_id}" if a.registrant_id else f"name:{a.name.strip().lower()}#{a.first_join.isoformat()}")


def _certificate(row: sqlite3.Row) -> CertificateRecord:
    values = dict(row)
    values["held_on"] = date.fromisoformat(values["held_on"])
    return CertificateRecord(**values)


def _claim_abandoned(claimed_by: str, claimed_at: str, stale_before: datetime) -> bool:
    """True when a claim's owner is a dead process on this machine, or the claim is older than allowed."""
    pid, _, host = claimed_by.partition("@")
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            pass
    return not claimed_at or claimed_at < iso(stale_before)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception; inside another transaction, a savepoint.

    Nesting lets a caller make many store calls one transaction (``StateStore.transaction()``):
    the inner ones then commit nothing themselves, and a failure anywhere undoes them all.
    """

    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self._nested = False  # True when opened inside a transaction (a savepoint)

    def __enter__(self) -> None:
        self._nested = self._db.in_transaction
        self._db.execute("SAVEPOINT inner" if self._nested else "BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self._nested:
            if exc_type:
                self._db.execute("ROLLBACK TO inner")
            self._db.execute("RELEASE inner")
        else:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")
