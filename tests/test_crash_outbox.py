"""The outbox under hostile rows and concurrent senders: one bad row never stops the batch; a claim is
taken once; claims of dead processes are released, live ones are not."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from integrations.sandbox.smtp_server import SandboxSmtpServer
from tests.fakes import FakeCalendar, FakeSheets, FakeZoom
from tests.helpers_settings import write_settings
from tests.helpers_smtp import transport_for
from worker.config.settings import load_settings
from worker.core.clock import FixedClock
from worker.core.derive import policy, series_info
from worker.core.model import Recipient
from worker.core.planner import plan_season
from worker.mail.composer import MailComposer
from worker.run.engine import Engine, Integrations
from worker.store.state import StateStore

UTC = timezone.utc
FIRST = "webinar-kamis/2027-01-07"
PEOPLE = [Recipient("ani@example.org", "Ani"), Recipient("budi@example.org", "Budi")]


@pytest.fixture
def server():
    with SandboxSmtpServer() as s:
        yield s


def engine_for(tmp_path, server, store, clock) -> tuple[Engine, list]:
    settings = load_settings(write_settings(tmp_path))
    io = Integrations(zoom=FakeZoom(), calendar=FakeCalendar(), sheets=FakeSheets(), mail=transport_for(server),
                      composer=MailComposer(settings.mail.templates_dir, series_info(settings)))
    engine = Engine(store, io, clock, series=series_info(settings), policy=policy(settings),
                    recipients=lambda s: PEOPLE, batch_size=100)
    return engine, list(plan_season(settings).sessions)


def test_a_crlf_address_and_a_row_without_a_session_fail_alone_and_the_batch_goes_on(tmp_path, server):
    store = StateStore(tmp_path / "state.db")
    clock = FixedClock(datetime(2026, 12, 31, 2, tzinfo=UTC))
    engine, sessions = engine_for(tmp_path, server, store, clock)
    now = clock.now()
    # Queued before the good mail, so they come first in the batch: a Zoom e-mail carrying a header,
    # and a row for a session the state knows nothing about.
    store.queue_mail(FIRST, "thankyou", 0, [Recipient("eve@example.org\r\nBcc: victim@example.net", "Eve")], now,
                     context=json.dumps({"minutes": 60}))
    store.queue_mail("webinar-kamis/2031-01-02", "invitation", 0, [Recipient("carol@example.org", "Carol")], now)

    report = engine.tick(sessions)

    assert report.failed == []
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == ["ani@example.org", "budi@example.org"]
    assert not any(b"victim" in m.data for m in server.messages)
    rows = {r["email"]: (r["status"], r["last_error"]) for r in _outbox(tmp_path)}
    assert rows["ani@example.org"][0] == rows["budi@example.org"][0] == "sent"
    assert rows["eve@example.org\r\nBcc: victim@example.net"][0] == "failed"
    assert "control characters" in rows["eve@example.org\r\nBcc: victim@example.net"][1]
    assert rows["carol@example.org"][0] == "failed" and "no record" in rows["carol@example.org"][1]

    clock.set(datetime(2027, 1, 6, 23, 30, tzinfo=UTC))  # later ticks go on: the reminders
    assert engine.tick(sessions).failed == []
    assert Counter(r for m in server.messages for r in m.rcpt_tos) == {"ani@example.org": 2, "budi@example.org": 2}
    store.close()


def test_a_template_that_fails_for_one_kind_defers_only_those_rows(tmp_path, server):
    store = StateStore(tmp_path / "state.db")
    clock = FixedClock(datetime(2026, 12, 31, 2, tzinfo=UTC))
    engine, sessions = engine_for(tmp_path, server, store, clock)
    (tmp_path / "templates" / "thankyou.txt.j2").write_text("{{ tidak_ada }}\n", encoding="utf-8")
    store.queue_mail(FIRST, "thankyou", 0, [Recipient("dewi@example.org", "Dewi")], clock.now(),
                     context=json.dumps({"minutes": 60}))
    assert engine.tick(sessions).failed == []
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == ["ani@example.org", "budi@example.org"]
    (row,) = [r for r in _outbox(tmp_path) if r["email"] == "dewi@example.org"]
    assert row["status"] == "pending" and row["next_at"] > row["queued_at"]  # waits alone, tried again later
    store.close()


def test_a_row_is_claimed_by_one_store_only(tmp_path):
    now = datetime(2027, 1, 1, tzinfo=UTC)
    with StateStore(tmp_path / "state.db") as one, StateStore(tmp_path / "state.db") as two:
        one.queue_mail(FIRST, "invitation", 0, PEOPLE, now)
        ids = [r.id for r in one.pending_mail(10)]
        assert [one.claim_mail(i, now) for i in ids] == [True, True]
        assert [two.claim_mail(i, now) for i in ids] == [False, False]
        assert one.pending_mail(10) == [] and two.due_mail_counts(now) == {}
        one.mark_mail(ids[0], "sent", now)
        assert two.claim_mail(ids[0], now) is False  # sent is final


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


def test_claims_of_dead_processes_are_released_live_ones_kept_stale_ones_released(tmp_path):
    now = datetime(2027, 1, 1, tzinfo=UTC)
    db_path = tmp_path / "state.db"
    with StateStore(db_path) as store:
        store.queue_mail(FIRST, "invitation", 0, [Recipient(f"p{i}@example.org") for i in range(4)], now)
        ids = [r.id for r in store.pending_mail(10)]
        for i in ids:
            assert store.claim_mail(i, now)
        host = store.owner.partition("@")[2]
        owners = {ids[0]: f"{_dead_pid()}@{host}",  # died: released
                  ids[1]: store.owner,  # this very process, still sending: kept
                  ids[2]: "1@another-host",  # another machine, recent: kept until stale
                  ids[3]: "1@another-host"}  # another machine, an old claim: released
        db = sqlite3.connect(db_path)
        for row_id, owner in owners.items():
            when = (now - timedelta(hours=2)) if row_id == ids[3] else now
            db.execute("UPDATE outbox SET claimed_by=?, claimed_at=? WHERE id=?",
                       (owner, when.isoformat(timespec="seconds"), row_id))
        db.commit()
        db.close()
        assert store.release_claims(now + timedelta(minutes=5)) == 2
        status = {r["id"]: r["status"] for r in _outbox(tmp_path)}
        assert [status[i] for i in ids] == ["pending", "sending", "sending", "pending"]
        assert store.release_claims(now + timedelta(minutes=5)) == 0


def _outbox(tmp_path) -> list[sqlite3.Row]:
    db = sqlite3.connect(tmp_path / "state.db")
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM outbox ORDER BY id").fetchall()
    finally:
        db.close()
