"""The crash suite: a season run as real ``webinar-worker once`` processes, each killed with SIGKILL at a
chosen point in the code (``worker.crashpoint``) and started again until the season is done.

Afterwards the world must look as if nothing had crashed: one Zoom meeting per live session, one
calendar event each, each sheet row once, every expected mail delivered, a mail repeated only
where a kill fell between the server's accept and the outbox's "sent" (once per such kill), and a
sound SQLite file.
"""
from __future__ import annotations

import email
import email.policy
import sqlite3
from collections import Counter

from tests.helpers_season import (CALENDAR_ID, KEYS, LIVE, PEOPLE, SPREADSHEET_ID, Season, at, expected_mail)
from worker.core.model import calendar_event_id

# (moment, what staff or the world do first, kill points in the order the worker reaches them).
# ``name:n`` kills on the n-th pass of the point in that process.
SEASON = (
    ("2026-12-25 08:00", None, ("state.migration:3", "cli.after_lock", "create_meeting.before_call",
                                "create_meeting.after_call", "upsert_event.after_call")),
    ("2026-12-31 10:00", None, ("register_invitees.after_call", "state.queue_mail.in_transaction:3",
                                "queue_invitations.after_queue",
                                "send_mail.after_claim", "send_mail.after_accept:3", "send_mail.after_mark:2")),
    ("2027-01-07 07:30", None, ("queue_reminders.after_queue", "send_mail.after_accept:6")),
    ("2027-01-07 12:00", "hold 2027-01-07", ("fetch_attendance.after_fetch", "fetch_attendance.after_store",
                                             "sheets.between_writes", "sync_sheet.after_call",
                                             "queue_thankyou.after_one:2", "send_mail.after_accept:5")),
    ("2027-01-09 10:00", "edit", ("update_meeting.after_call", "upsert_event.after_call", "queue_change.after_queue",
                                  "send_mail.after_claim:4")),
    ("2027-01-14 07:30", None, ("send_mail.after_mark:6",)),
    ("2027-01-14 12:00", "hold 2027-01-14", ("send_mail.after_accept:10",)),
    ("2027-01-15 10:00", "cancel", ("delete_meeting.after_call", "cancel_event.after_call",
                                    "queue_cancellation.after_queue", "send_mail.after_accept:1")),
)


def _act(season: Season, action: str | None) -> None:
    if action == "edit":
        season.write_settings(edited=True, cancelled=False)
    elif action == "cancel":
        season.write_settings(edited=True, cancelled=True)
    elif action:
        season.hold(action.split()[1])


def test_a_season_killed_at_every_point_ends_as_if_nothing_had_crashed(tmp_path):
    kills: list[str] = []
    with Season(tmp_path) as season:
        for moment, action, points in SEASON:
            _act(season, action)
            for point in points:
                run = season.once(at(moment), crashpoint=point)
                assert run.killed, f"{point} at {moment} was never reached (exit {run.returncode}):\n{run.out}{run.err}"
                kills.append(point)
            season.settle(at(moment))

        # Zoom: one meeting per live session, made once; the cancelled one made once and deleted.
        for key in LIVE:
            assert len(season.meetings_for(key)) == 1, key
        assert season.meetings_for("2027-01-21") == []
        assert season.zoom.calls["create_meeting"] == len(KEYS)
        assert len(season.zoom.deleted) == 1
        assert season.meetings_for("2027-01-14")[0]["topic"] == "Bedah Buku Laskar Pelangi"
        # Registration: everyone once per live session, and each invitation carries that person's own link.
        for key in LIVE:
            registrants = season.zoom.registrants(season.meetings_for(key)[0]["id"])
            assert sorted(r["email"] for r in registrants) == sorted(e for e, _ in PEOPLE), key
            links = {r["email"]: r["join_url"] for r in registrants}
            for received in season.smtp.messages:
                message = email.message_from_bytes(received.data, policy=email.policy.default)
                if message["X-Webinar-Kind"] == "invitation" and str(message["X-Webinar-Session"]).endswith(key):
                    text = message.get_body(("plain",)).get_content()
                    assert all(links[r] in text for r in received.rcpt_tos), (key, received.rcpt_tos)

        # Calendar: one event per session, under its deterministic id; the cancelled one cancelled.
        events = season.google.events(CALENDAR_ID)
        assert sorted(e["id"] for e in events) == sorted(calendar_event_id("webinar-kamis", k) for k in KEYS)
        status = {e["id"]: e["status"] for e in events}
        assert status[calendar_event_id("webinar-kamis", "2027-01-21")] == "cancelled"
        assert all(status[calendar_event_id("webinar-kamis", k)] == "confirmed" for k in LIVE)

        # Sheets: each attendee row once per session tab, one summary row per held session.
        for key in LIVE:
            rows = season.google.sheet_values(SPREADSHEET_ID, key)[1:]
            assert len(rows) == 5 and len({tuple(r) for r in rows}) == 5, rows  # 4 people + 1 walk-in
        summary = [r for r in season.google.sheet_values(SPREADSHEET_ID, "Ringkasan")[1:] if any(r)]
        assert sorted(str(r[0]) for r in summary) == sorted(LIVE), summary

        # Mail: nothing lost; a repeat only where a kill fell between the accept and the mark.
        delivered = season.delivered()
        assert set(delivered) == expected_mail()
        repeats = sum(n - 1 for n in delivered.values())
        accepted_kills = sum(1 for p in kills if p.startswith("send_mail.after_accept"))
        assert repeats <= accepted_kills, (repeats, kills)
        assert max(delivered.values()) <= 2

        # State: sound, every outbox row sent, nothing left claimed.
        assert season.integrity() == "ok"
        db = sqlite3.connect(season.state_file)
        try:
            outbox = Counter(s for (s,) in db.execute("SELECT status FROM outbox"))
        finally:
            db.close()
        assert outbox == Counter({"sent": len(expected_mail())}), outbox

    distinct = {p.split(":")[0] for p in kills}
    assert len(distinct) >= 20, sorted(distinct)
    print(f"\ncrash suite: {len(kills)} kills at {len(distinct)} distinct points, "
          f"{len(season.runs)} worker processes, {repeats} repeated mail(s)")
