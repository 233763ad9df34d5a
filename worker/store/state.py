"""The worker's memory: a SQLite file (WAL mode) of what exists remotely and what was sent.

Every write is its own transaction, so a crash loses at most the step in flight, and the
next tick's plan recovers it (see worker.core.reconcile). The schema is versioned; migrations run
on open, in order, inside a transaction.
"""
from __future__ import annotations

import sqlite3
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

from worker.core.model import Attendee, Recipient, Registrant
from worker.core.records import BEFORE_START_KINDS, MAIL_STATUSES, OutboxRow, Retry, SessionState, iso, parse_iso
from worker.errors import StateError

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
    # 5: Zoom registration: each invitee's registrant id and personal link; attendance tied to people
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
)
REGISTRANT_STATUSES = ("approved", "cancelled", "refused", "self")
"""approved: registered by the worker; refused: Zoom would not take the address; self: registered on Zoom's page."""

_SESSION_FIELDS = tuple(f.name for f in fields(SessionState))


class StateStore:
    """SQLite-backed state; one instance per process, used from one thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)  # the database file
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot open the state database ({exc})") from None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot create the state database ({exc})") from None

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
            raise StateError(f"{self.path}: written by a newer webinar-worker (schema {version}); upgrade the worker")
        for number in range(version + 1, len(MIGRATIONS) + 1):
            with self._tx():
                self._run_script(MIGRATIONS[number - 1])
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

    # -- sessions ----------------------------------------------------------
    def sessions(self) -> dict[str, SessionState]:
        """Every session row, by uid."""
        rows = self._db.execute(f"SELECT {', '.join(_SESSION_FIELDS)} FROM sessions ORDER BY key").fetchall()
        return {r["uid"]: SessionState(**dict(r)) for r in rows}

    def session(self, uid: str) -> SessionState | None:
        """One session row, or None."""
        row = self._db.execute(f"SELECT {', '.join(_SESSION_FIELDS)} FROM sessions WHERE uid=?", (uid,)).fetchone()
        return SessionState(**dict(row)) if row else None

    def update_session(self, uid: str, now: datetime, **changes: object) -> SessionState:
        """Create the row if needed and set ``changes``, in one transaction."""
        unknown = set(changes) - set(_SESSION_FIELDS)
        if unknown:
            raise StateError(f"unknown session fields: {sorted(unknown)}")
        series, _, key = uid.partition("/")
        changes = {**changes, "updated_at": iso(now)}
        with self._tx():
            self._db.execute("INSERT OR IGNORE INTO sessions (uid, series, key) VALUES (?, ?, ?)", (uid, series, key))
            assignments = ", ".join(f"{name}=?" for name in changes)
            self._db.execute(f"UPDATE sessions SET {assignments} WHERE uid=?", (*changes.values(), uid))
        state = self.session(uid)
        assert state is not None
        return state

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
                                 "WHERE uid=? AND status='pending' AND kind != 'cancellation'", (uid,))
            for r in recipients:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (uid, kind, round, email, name, queued_at, context) "
                    "VALUES (?,?,?,?,?,?,?)", (uid, kind, round_, r.email, r.name, iso(now), context))
                added += cur.rowcount
            if session_changes:
                series, _, key = uid.partition("/")
                self._db.execute("INSERT OR IGNORE INTO sessions (uid, series, key) VALUES (?, ?, ?)", (uid, series, key))
                changes = {**session_changes, "updated_at": iso(now)}
                assignments = ", ".join(f"{name}=?" for name in changes)
                self._db.execute(f"UPDATE sessions SET {assignments} WHERE uid=?", (*changes.values(), uid))
        return added

    def pending_mail(self, limit: int, uids: Sequence[str] | None = None,
                     now: datetime | None = None) -> list[OutboxRow]:
        """The oldest pending outbox rows (with ``now``: only those not deferred past it), optionally for some sessions."""
        sql = "SELECT * FROM outbox WHERE status='pending'"
        args: list[object] = []
        if now is not None:
            sql += " AND next_at <= ?"
            args.append(iso(now))
        if uids is not None:
            sql += f" AND uid IN ({', '.join('?' * len(uids))})"
            args += list(uids)
        sql += " ORDER BY id LIMIT ?"
        rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [OutboxRow(**{k: r[k] for k in OutboxRow.__dataclass_fields__}) for r in rows]

    def mark_mail(self, row_id: int, status: str, now: datetime, error: str = "",
                  next_at: datetime | None = None) -> None:
        """Record the outcome of one send (sent, failed, skipped, or pending again, perhaps not before ``next_at``)."""
        if status not in MAIL_STATUSES:
            raise StateError(f"unknown mail status {status!r}")
        sent_at = iso(now) if status == "sent" else ""
        with self._tx():
            self._db.execute(
                "UPDATE outbox SET status=?, attempts=attempts+1, last_error=?, sent_at=?, next_at=? WHERE id=?",
                (status, error[:500], sent_at, iso(next_at) if next_at else "", row_id))

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
        """Replace a session's attendance and mark it stored, atomically."""
        with self._tx():
            self._db.execute("DELETE FROM attendance WHERE uid=?", (uid,))
            for a in attendees:
                person = (a.email if a.identified or not a.registrant_id else "") or \
                    (f"reg:{a.registrant_id}" if a.registrant_id else f"name:{a.name.strip().lower()}#{a.first_join.isoformat()}")
                self._db.execute(
                    "INSERT OR REPLACE INTO attendance (uid, person, name, email, first_join, last_leave, minutes, "
                    "joins, registrant_id, registered_name, identified, staff, internal) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (uid, person, a.name, a.email, iso(a.first_join), iso(a.last_leave), a.minutes, a.joins,
                     a.registrant_id, a.registered_name, int(a.identified), int(a.staff), int(a.internal)))
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


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
