"""The ``webinar-worker`` command. Exit codes: 0 ok, 1 a runtime failure, 2 bad settings or usage,
3 another worker already holds the state file."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from dataclasses import replace
from datetime import date as date_type
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Sequence
from zoneinfo import ZoneInfo

from worker.config.envfile import RedactingFilter, Secrets, permission_warnings
from worker.config.settings import load_settings
from worker.core.clock import Clock, FixedClock, SystemClock, parse_moment
from worker.core.derive import policy, series_info
from worker.core.mailkinds import MAIL_KINDS, Audience, MailKind
from worker.core.mailload import bursts, overloads
from worker.core.model import MeetingInfo, Recipient
from worker.core.moments import moments
from worker.core.planner import plan_season
from worker.core.schema import Settings
from worker.crashpoint import crashpoint
from worker.i18n import translator_for
from worker.errors import AlreadyRunningError, SettingsError, StateError, WorkerError
from worker.mail.composer import MailComposer, check_templates
from worker.mail.recipients import select_for_session
from worker.outputs.report import held, person_rows, season_items, write_report
from worker.outputs.status import render_status
from worker.outputs.transcript import issue_transcripts, write_transcripts
from worker.outputs.verify import REVOKED, SiteInfo, describe, publish_site
from worker.outputs.verify import status as certificate_status
from worker.run.engine import Integrations
from worker.run.lock import StateLock
from worker.run.wiring import RecipientLists, build_engine, build_integrations, default_env_file
from worker.store.state import StateStore

if TYPE_CHECKING:  # pragma: no cover - the runner (mail, .ics, alerts) loads only for the commands that tick
    from worker.run.runner import Runner

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3
LANG_HELP = "language of the output: id or en (default: LANG when it names one of them, else series.locale)"
SESSION_KINDS = tuple(k for k in MAIL_KINDS if MailKind(k).audience is not Audience.OPERATOR)  # a session's mail


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and ``python -m worker``."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        # Commands read their text through args.t; _setup may switch it to the settings' locale.
        args.t = translator_for(getattr(args, "lang", None))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except AlreadyRunningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except SettingsError as exc:
        print(f"{exc}\n\n{len(exc.problems)} problem(s) found; nothing was changed.", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # bad --now and similar usage errors
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (StateError, WorkerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webinar-worker", description=__doc__)
    parser.add_argument("--lang", help=LANG_HELP)
    sub = parser.add_subparsers(dest="command")

    def command(name: str, func, help_text: str, now: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--settings", type=Path, default=Path("settings.yaml"), help="settings file (default: ./settings.yaml)")
        _lang_option(p)
        p.add_argument("--log-format", choices=("text", "json"), default="text",
                       help="log lines as text (ISO time with offset) or one JSON object each, for log collectors")
        if now:
            p.add_argument("--now", help="act as if it were this moment, e.g. 2027-01-14T08:00+08:00")
        p.set_defaults(func=func)
        return p

    check = command("check", cmd_check, "check settings.yaml and the templates offline; exit 2 listing every "
                    "problem, exit 1 when an integration is not configured")
    check.add_argument("--offline-ok", action="store_true",
                       help="exit 0 even when integrations are not configured (CI, or trying the settings)")
    check.add_argument("--certificate", action="store_true",
                       help="also draw the sample certificate and transcript as PDF (slower: loads the PDF library)")
    command("doctor", cmd_doctor, "try each integration the settings use, for real (Zoom token, scopes and host; "
            "calendar; spreadsheet; SMTP login; recipient sources); exit 0 only if all work")
    send_test = command("send-test", cmd_send_test, "send one real mail of a kind to ADDRESS through the configured "
                        "SMTP server, outside the outbox (nobody else gets anything)")
    send_test.add_argument("address", help="where the test mail goes, e.g. your own address")
    send_test.add_argument("--kind", choices=SESSION_KINDS, default="invitation", help="which mail (default: invitation)")
    send_test.add_argument("--date", help="the session date, e.g. 2027-01-14 (default: the next session)")
    command("plan", cmd_plan, "show the season's sessions and what will happen when", now=True)
    once = command("once", cmd_once, "run one reconcile tick, then exit", now=True)
    once.add_argument("--dry-run", action="store_true", help="print the steps that are due; call nothing")
    command("run", cmd_run, "run until stopped (SIGTERM/SIGINT), ticking every worker.tick_seconds")
    status = command("status", cmd_status, "the last tick, then per session: what exists, what was sent, what is "
                     "pending, the last error; exit 1 when the worker has not ticked for a while", now=True)
    status.add_argument("--json", action="store_true", help="the worker's health as JSON, for monitoring")
    preview = command("preview", cmd_preview, "render one session's mails to .eml and .html files; sends nothing")
    preview.add_argument("date", help="the session date, e.g. 2027-01-14")
    preview.add_argument("--kind", choices=(*SESSION_KINDS, "all"),
                         default="all", help="which mail (default: all)")
    preview.add_argument("--out", type=Path, default=Path("preview"), help="output folder (default: ./preview)")
    report = command("report", cmd_report, "write the season report (HTML with a chart) from the stored attendance",
                     now=True)
    report.add_argument("--out", type=Path, default=Path("report"), help="output folder (default: ./report)")
    verify = command("verify", cmd_verify, "say whether a certificate number is genuine (from the state file)")
    verify.add_argument("number", help="the number printed on the certificate, e.g. 007/SERT/WEBINAR/I/2027")
    publish = command("publish-verify", cmd_publish_verify,
                      "write the static verification site: one HTML page per certificate number plus an index")
    publish.add_argument("--out", type=Path, default=Path("verifikasi"), help="output folder (default: ./verifikasi)")
    transcript = command("transcript", cmd_transcript, "issue the season transcripts (PDF) for people who attended "
                         "at least certificate.transcript_min_sessions sessions", now=True)
    transcript.add_argument("--out", type=Path, default=Path("transkrip"), help="output folder (default: ./transkrip)")
    init = sub.add_parser("init", help="write a starting settings.yaml, the templates, a .env and a systemd unit "
                          "into DIR (nothing existing is overwritten)",
                          description="Write a commented settings.yaml, the mail templates (for staff to edit), a .env "
                                      "for the secrets (mode 0600) and a systemd unit into DIR.")
    init.add_argument("dir", nargs="?", type=Path, default=Path("."), help="the folder (default: the current one)")
    _lang_option(init)
    init.set_defaults(func=cmd_init)
    demo = sub.add_parser("demo", help="run a whole season against the built-in sandbox (no accounts, no network)",
                          description="Start the Zoom and Google emulators and an SMTP server on 127.0.0.1 and run "
                                      "the worker over a simulated four-week season; files go to --out.")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default: ./demo-output)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    _lang_option(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def _lang_option(sub_parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand left without --lang keeps the one given before it ("webinar-worker --lang en plan").
    sub_parser.add_argument("--lang", default=argparse.SUPPRESS, help=LANG_HELP)


# -- shared helpers ---------------------------------------------------------------
def _setup(args: argparse.Namespace) -> tuple[Settings, Secrets, Clock]:
    settings = load_settings(args.settings)
    secrets = Secrets.load(os.environ, default_env_file(args.settings))
    _logging(settings.worker.log_level, secrets, getattr(args, "log_format", "text"))
    args.t = translator_for(getattr(args, "lang", None), settings_locale=settings.series.locale)
    clock: Clock = SystemClock()
    if getattr(args, "now", None):
        clock = FixedClock(parse_moment(args.now, settings.series.timezone))
    return settings, secrets, clock


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record (tests swap it)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class IsoFormatter(logging.Formatter):
    """``2026-12-03T18:30:00.123+08:00 INFO name: message``: the local time with its offset."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """The record's time in ISO 8601 with the machine's UTC offset."""
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class JsonFormatter(IsoFormatter):
    """One JSON object per line (time, level, logger, message, and the traceback if any)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info or record.exc_text:  # exc_text first: RedactingFilter has hidden the secrets in it
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _logging(level: str, secrets: Secrets, log_format: str = "text") -> None:
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else IsoFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("googleapiclient.discovery_cache", "urllib3", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _has_state(settings: Settings, hint: str) -> bool:
    """True when the state file exists; otherwise say so (with ``hint``) and return False."""
    if settings.worker.state_file.exists():
        return True
    print(f"no state yet ({settings.worker.state_file} does not exist): {hint}")
    return False


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M")


# -- commands -----------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    """``check``: settings, then templates rendered with sample data, then what is configured."""
    settings = load_settings(args.settings)
    problems = _template_problems(settings, draw_certificate=args.certificate)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"\n{len(problems)} template problem(s) found.", file=sys.stderr)
        return EXIT_USAGE
    plan = plan_season(settings)
    active = [s for s in plan.sessions if not s.cancelled]
    print(f"{args.settings}: valid — {len(active)} session(s), {len(plan.sessions) - len(active)} cancelled, "
          f"{len(plan.skipped)} skipped date(s).")
    for day in plan.without_topic:
        print(f"note: {day} is a series date with no entry in topics; it will not be scheduled.")
    if settings.followup.enabled and settings.followup.certificate and not args.certificate:
        print(args.t._("note: the certificate was checked without drawing it; "
                       "`webinar-worker check --certificate` also draws a sample PDF."))
    secrets = Secrets.load(os.environ, default_env_file(args.settings))
    io = build_integrations(settings, secrets)
    for name, why in sorted(io.missing.items()):
        print(f"not configured: {name}: {why}")
    if "zoom" not in io.missing:
        from integrations.zoom import scopes_needed  # the vendor client loads only when Zoom is configured

        print("Zoom: the Server-to-Server OAuth app needs these scopes:")
        for line in scopes_needed(settings.zoom.registration):
            print(f"  - {line}")
        if settings.zoom.registration:
            print("  registration needs a licensed (Pro or higher) host user as zoom.user_id")
    problems, unreadable = _recipient_problems(settings, io)
    for problem in problems:
        print(f"warning: recipient list: {problem} (not sent to)")
    for line in _mail_load_warnings(settings, io, SystemClock().now()):
        print(f"warning: {line}")
    for line in _suppressed_lines(settings):
        print(line)
    key_file = settings.google.credentials_file or secrets.get("GOOGLE_APPLICATION_CREDENTIALS")
    for warning in permission_warnings({".env": default_env_file(args.settings),
                                        "the Google key file": Path(key_file) if key_file else None}):
        print(f"warning: {warning}")
    if unreadable:
        print("\n".join(unreadable), file=sys.stderr)
        print(f"\n{len(unreadable)} recipient list(s) cannot be read.", file=sys.stderr)
        return EXIT_USAGE
    smtp = settings.mail.smtp
    if "mail" not in io.missing and smtp.host not in ("localhost", "127.0.0.1", "::1") and not (
            secrets.get("SMTP_USERNAME") and secrets.get("SMTP_PASSWORD")):
        print(f"warning: mail: SMTP_USERNAME and SMTP_PASSWORD are not both set; {smtp.host} will be used "
              f"without logging in (most providers, Gmail included, refuse that)")
    if io.missing:
        names = ", ".join(sorted(io.missing))
        if args.offline_ok:
            print(f"settings and templates OK; not configured: {names} (accepted by --offline-ok)")
            return EXIT_OK
        print(f"NOT READY: {len(io.missing)} integration(s) not configured: {names}. Steps that need them will "
              f"wait; pass --offline-ok to accept this (CI).")
        return EXIT_FAILURE
    print("OK: everything the settings use is configured (`webinar-worker doctor` tries it for real)")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    """``doctor``: each integration tried for real, in plain words; exit 1 when any of them does not work."""
    from worker.run.doctor import default_recipients, diagnose

    settings, secrets, _ = _setup(args)
    io = build_integrations(settings, secrets)
    findings = diagnose(settings, io, default_recipients(settings, io))
    for finding in findings:
        print(f"{finding.name:<11} {'OK' if finding.ok else 'PROBLEM'}")
        for line in finding.lines:
            print(f"  {line}")
    bad = [f.name for f in findings if not f.ok]
    print("\n" + (f"{len(bad)} integration(s) do not work: {', '.join(bad)}" if bad
                  else "everything the settings use works"))
    return EXIT_FAILURE if bad else EXIT_OK


def cmd_send_test(args: argparse.Namespace) -> int:
    """``send-test ADDRESS``: one real mail of one kind, straight to SMTP; the outbox is not touched."""
    from worker.core.cleaning import clean_email

    settings, secrets, clock = _setup(args)
    address = clean_email(args.address)
    if address is None:
        raise ValueError(f"{args.address!r} is not an email address")
    sessions = [s for s in plan_season(settings).sessions if not s.cancelled]
    if args.date:
        day = date_type.fromisoformat(args.date)
        session = next((s for s in plan_season(settings).sessions if s.date == day), None)
        if session is None:
            raise ValueError(f"{day} is not a session in {args.settings} (see `webinar-worker plan`)")
    else:
        now = clock.now()
        session = next((s for s in sessions if s.start_utc > now), sessions[-1] if sessions else None)
        if session is None:
            raise ValueError(f"{args.settings} has no session to take the mail's text from")
    io = build_integrations(settings, secrets)
    if io.mail is None or io.composer is None:
        print(f"error: mail is not configured: {io.missing.get('mail') or io.missing.get('composer')}", file=sys.stderr)
        return EXIT_FAILURE
    meeting = MeetingInfo("85012345678", "https://zoom.us/j/85012345678?pwd=contoh", "Baca2027")
    previous = replace(session, topic=session.topic + " (judul lama)") if args.kind == "change" else None
    message = io.composer.message(args.kind, session, meeting, Recipient(address, "Uji Coba"),
                                  sequence=1 if args.kind == "change" else 0, previous=previous,
                                  extra={"minutes": session.duration_minutes})
    subject = message["Subject"]
    del message["Subject"]
    message["Subject"] = f"[UJI COBA] {subject}"
    with io.mail.connect() as conn:
        conn.send(message, address)
    print(f"sent {args.kind} for {session.key} to {address}: {message['Subject']}")
    return EXIT_OK


def _recipient_problems(settings: Settings, io: Integrations) -> tuple[list[str], list[str]]:
    """Row problems and unreadable files in the local recipient sources (sheet ranges are read by the worker)."""
    try:
        load = RecipientLists(settings, io, SystemClock()).load(sheets=False)
    except WorkerError as exc:  # an unsubscribe list that cannot be read: no mail would go out
        return [], [str(exc)]
    return load.problems, load.unreadable


def _mail_load_warnings(settings: Settings, io: Integrations, now: datetime) -> list[str]:
    """The 24-hour windows whose invitations and reminders will not fit under mail.smtp.per_day (local lists only)."""
    if settings.mail.smtp.per_day <= 0:
        return []
    try:
        listed = RecipientLists(settings, io, SystemClock()).load(sheets=False).recipients
    except WorkerError:  # an unreadable list is reported by check already
        return []
    found = bursts(plan_season(settings).sessions, policy(settings), lambda s: len(select_for_session(listed, s.groups)),
                   now)
    lines = [o.describe() for o in overloads(found, settings.mail.smtp.per_day, settings.series.timezone)]
    if lines and settings.mail.recipients.sheet_ranges:
        lines.append("mail: the estimate leaves out the people in mail.recipients.sheet_ranges; the real load is higher")
    return lines


def _suppressed_lines(settings: Settings) -> list[str]:
    """The addresses that bounced and get no more mail, from the state file (none when there is none yet)."""
    if not settings.worker.state_file.exists():
        return []
    with StateStore(settings.worker.state_file) as store:
        suppressed = store.suppressed()
    return [f"suppressed (bounced, no more mail): {email} — {uid}: {why}"
            for email, (why, uid, _) in suppressed.items()]


def _template_problems(settings: Settings, draw_certificate: bool = False) -> list[str]:
    """Problems in the mail and certificate templates (an import failure is a crash, never "OK").

    The certificate is laid out as PDF only with ``draw_certificate``: the PDF library costs most of
    a second and tens of MiB, and the templates, fonts and images are checked without it."""
    return check_templates(settings, draw_certificate=draw_certificate)


def cmd_plan(args: argparse.Namespace) -> int:
    """``plan``: a table of upcoming sessions with the moments things happen."""
    settings, _, clock = _setup(args)
    now, zone, p = clock.now(), settings.series.timezone, policy(settings)
    plan = plan_season(settings)
    print(f"{settings.series.title} — times in {zone}; now is {_local(now, zone)}")
    print(f"{'date':<10}  {'start':<5}  {'min':>3}  {'topic':<44}  {'meeting+event':<16}  {'invitations':<16}  "
          f"{'reminder':<16}  attendance")
    for s in plan.sessions:
        if s.end_utc < now - timedelta(days=2):
            continue
        topic = (s.topic[:41] + "...") if len(s.topic) > 44 else s.topic
        if s.cancelled:
            print(f"{s.key:<10}  {s.start:%H:%M}  {s.duration_minutes:>3}  {topic:<44}  CANCELLED")
            continue
        when = moments(s, p)
        cells = [("due now" if m <= now else _local(m, zone)[4:])
                 for m in (when.meeting_due, when.invitations_due, when.reminder_due, when.attendance_due)]
        print(f"{s.key:<10}  {s.start:%H:%M}  {s.duration_minutes:>3}  {topic:<44}  " + "  ".join(f"{c:<16}" for c in cells[:3])
              + f"  {cells[3]}")
    for day, reason in plan.skipped:
        print(f"{day}  skipped: {reason or 'no session'}")
    for day in plan.without_topic:
        print(f"{day}  no topic yet: not scheduled")
    for line in _mail_load_warnings(settings, Integrations(), now):
        print(f"warning: {line}")
    return EXIT_OK


def _engine_runner(args: argparse.Namespace, store: StateStore, settings: Settings, secrets: Secrets,
                   clock: Clock, stop_event: threading.Event | None = None, keep_health: bool = True,
                   settings_problem: str | None = None) -> Runner:
    from worker.run.runner import Runner  # loaded by the commands that tick, not by check or status

    stop_event = stop_event or threading.Event()
    return Runner(args.settings, lambda s: build_engine(s, secrets, store, clock, stop_event=stop_event),
                  clock, settings=settings, stop_event=stop_event, store=store if keep_health else None,
                  settings_problem=settings_problem)


def _setup_or_last_good(args: argparse.Namespace) -> tuple[Settings, Secrets, Clock, str | None]:
    """Like ``_setup``; when the settings file is broken, the last good settings kept in the state file
    and the file's problems (SettingsError again when there is no good copy)."""
    try:
        return (*_setup(args), None)
    except SettingsError as exc:
        kept = _last_good_settings(args.settings)
        if kept is None:
            raise
        secrets = Secrets.load(os.environ, default_env_file(args.settings))
        _logging(kept.worker.log_level, secrets, getattr(args, "log_format", "text"))
        clock: Clock = SystemClock()
        if getattr(args, "now", None):
            clock = FixedClock(parse_moment(args.now, kept.series.timezone))
        return kept, secrets, clock, str(exc)


def _last_good_settings(path: Path) -> Settings | None:
    """The last good settings kept in the state file, when the file at ``path`` is broken; None if none.

    The state file is the one the broken file still names (``worker.state_file``, when its YAML can
    be read at all), else ``state.db`` beside the settings file.
    """
    import yaml

    from worker.config.settings import load_settings_text
    from worker.store.health import last_good_settings_text

    named = None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
        named = doc["worker"]["state_file"] if isinstance(doc, dict) and isinstance(doc.get("worker"), dict) else None
    except (yaml.YAMLError, OSError, RecursionError, ValueError):
        pass
    base = path.resolve().parent
    for candidate in ([Path(str(named)).expanduser()] if isinstance(named, str) and named else []) + [Path("state.db")]:
        state_file = candidate if candidate.is_absolute() else base / candidate
        if not state_file.is_file():
            continue
        with StateStore(state_file) as store:
            text = last_good_settings_text(store)
        if text:
            try:
                return load_settings_text(text, path)
            except SettingsError:
                continue
    return None


def _locked_store(settings: Settings, clock: Clock) -> tuple[StateLock, StateStore]:
    """The state file's lock (AlreadyRunningError if another worker has it), then the store.

    With the lock held, outbox rows left 'sending' by a worker that died are put back to pending.
    """
    lock = StateLock(settings.worker.state_file).acquire()
    try:
        crashpoint("cli.after_lock")
        store = StateStore(settings.worker.state_file)
        released = store.release_claims(clock.now())
    except BaseException:
        lock.release()
        raise
    if released:
        logging.getLogger(__name__).warning("%d mail(s) were being sent when a worker stopped; they will be sent "
                                            "again (at most once more each)", released)
    return lock, store


def cmd_once(args: argparse.Namespace) -> int:
    """``once``: one tick (or, with --dry-run, the steps that are due, writing nothing)."""
    settings, secrets, clock = _setup(args)
    if args.dry_run:
        return _dry_run(args, settings, secrets, clock)
    lock, store = _locked_store(settings, clock)
    try:
        report = _engine_runner(args, store, settings, secrets, clock).run_once()
    finally:
        store.close()
        lock.release()
    for step in report.done:
        print(f"done     {step}")
    for step, why in report.blocked:
        print(f"blocked  {step.kind} {step.uid}: {why}")
    for step, why in report.failed:
        print(f"failed   {step.kind} {step.uid}: {why}")
    if not (report.done or report.blocked or report.failed):
        print("nothing to do")
    return EXIT_FAILURE if report.failed else EXIT_OK


def _dry_run(args: argparse.Namespace, settings: Settings, secrets: Secrets, clock: Clock) -> int:
    """The due steps; no lock, and no state file or folder is created when there is none yet."""
    exists = settings.worker.state_file.exists()
    store = StateStore(settings.worker.state_file if exists else ":memory:")
    try:
        report = _engine_runner(args, store, settings, secrets, clock, keep_health=False).run_once(dry_run=True)
    finally:
        store.close()
    print("\n".join(str(s) for s in report.planned) or "nothing to do")
    if report.planned:
        print(f"({len(report.planned)} step(s) due; later steps follow once these are done)")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """``run``: the long-running loop, holding the state file's lock until it stops.

    A broken settings file at start: the last good settings kept in the state file are used (and the
    operator is alerted); only with no good copy ever does ``run`` exit 2.
    """
    settings, secrets, clock, problem = _setup_or_last_good(args)
    if problem:
        logging.getLogger(__name__).error("%s is broken; running on the last good settings kept in %s:\n%s",
                                          args.settings, settings.worker.state_file, problem)
    lock, store = _locked_store(settings, clock)
    try:
        _engine_runner(args, store, settings, secrets, clock, settings_problem=problem).run_forever()
    finally:
        store.close()
        lock.release()
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """``status``: the last tick, then one block per session from the state file.

    Exit 1 when the last completed tick is older than ``worker.stale_after_ticks`` intervals (or there
    has been none), so a monitor or a container's health check can run it.
    """
    from worker.outputs.status import health_lines, health_report

    settings, _, clock, problem = _setup_or_last_good(args)
    if not settings.worker.state_file.exists():
        if args.json:
            print(json.dumps({"healthy": False, "reason": "no state file yet"}))
            return EXIT_FAILURE
        _has_state(settings, "run `webinar-worker once` first")
        return EXIT_OK
    with StateStore(settings.worker.state_file) as store:
        health = health_report(settings, store, clock.now(), problem)
        if args.json:
            print(json.dumps(health, ensure_ascii=False, indent=2))
        else:
            print("\n".join(health_lines(health, settings)))
            print()
            print(render_status(settings, store, clock.now()))
    return EXIT_OK if health["healthy"] else EXIT_FAILURE


def cmd_preview(args: argparse.Namespace) -> int:
    """``preview``: the mails for one session, as files staff can open."""
    settings, _, _ = _setup(args)
    try:
        day = date_type.fromisoformat(args.date)
    except ValueError:
        raise ValueError(f"{args.date!r} is not a date such as 2027-01-14") from None
    session = next((s for s in plan_season(settings).sessions if s.date == day), None)
    if session is None:
        raise ValueError(f"{day} is not a session in {args.settings} (see `webinar-worker plan`)")
    meeting = MeetingInfo("85012345678", "https://zoom.us/j/85012345678?pwd=contoh", "Baca2027")
    if settings.worker.state_file.exists():
        with StateStore(settings.worker.state_file) as store:
            row = store.session(session.uid)
            if row and row.meeting_id:
                meeting = MeetingInfo(row.meeting_id, row.join_url, row.passcode, row.meeting_uuid)
    composer = MailComposer(settings.mail.templates_dir, series_info(settings),
                            certificates=settings.followup.certificate, waiting_room=settings.zoom.waiting_room)
    recipient = Recipient("contoh.peserta@example.org", "Contoh Peserta")
    kinds = SESSION_KINDS if args.kind == "all" else (args.kind,)
    args.out.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        previous = None
        if kind == "change":
            previous = replace(session, topic=session.topic + " (judul lama)")
        message = composer.message(kind, session, meeting, recipient, sequence=1 if kind == "change" else 0,
                                   previous=previous, extra={"minutes": session.duration_minutes})
        base = args.out / f"{session.key}-{kind}"
        base.with_suffix(".eml").write_bytes(bytes(message))
        html = message.get_body(("html",))
        if html is not None:
            base.with_suffix(".html").write_text(html.get_content(), encoding="utf-8")
        print(f"{kind:<13} {message['Subject']}\n              {base}.eml")
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    """``init [DIR]``: the files a new installation starts from; existing files are kept."""
    from worker.skeleton import init_folder

    result = init_folder(args.dir)
    for path in result.written:
        print(f"wrote  {path}")
    for path in result.kept:
        print(f"kept   {path} (exists)")
    folder = args.dir.resolve()
    print(f"\nnext: edit {folder / 'settings.yaml'} and {folder / '.env'}, then run\n"
          f"  webinar-worker check --settings {folder / 'settings.yaml'}\n"
          f"  webinar-worker doctor --settings {folder / 'settings.yaml'}\n"
          f"  webinar-worker send-test YOUR@ADDRESS --settings {folder / 'settings.yaml'}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """``demo``: the sandbox season, with a progress bar and a summary of what it produced."""
    from worker.demo import print_summary, run_demo  # the emulators and SMTP server load only for the demo

    logging.getLogger().setLevel(logging.WARNING)
    summary = run_demo(args.out, show_progress=not args.quiet)
    print_summary(summary)
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """``verify NUMBER``: what the certificate says and whether it stands; exit 1 when unknown or revoked."""
    settings, _, _ = _setup(args)
    if not _has_state(settings, "no certificate has been issued"):
        return EXIT_FAILURE
    with StateStore(settings.worker.state_file) as store:
        record = store.certificate(args.number)
    if record is None:
        print(f"{args.number}: TIDAK DITEMUKAN — no certificate with this number was issued by this worker")
        return EXIT_FAILURE
    print(describe(record, settings.certificate.revoked, settings.series.locale))
    return EXIT_FAILURE if certificate_status(record, settings.certificate.revoked) == REVOKED else EXIT_OK


def cmd_publish_verify(args: argparse.Namespace) -> int:
    """``publish-verify --out DIR``: static pages anyone can host (no e-mail addresses in them)."""
    settings, _, _ = _setup(args)
    if not _has_state(settings, "no certificate has been issued"):
        return EXIT_FAILURE
    with StateStore(settings.worker.state_file) as store:
        records = store.certificates()
    site = SiteInfo(title=settings.series.title, organizer=settings.series.organizer, locale=settings.series.locale)
    written = publish_site(args.out, records, settings.certificate.revoked, site)
    print(f"{args.out / 'index.html'}  ({len(written) - 1} certificate page(s))")
    return EXIT_OK


def cmd_transcript(args: argparse.Namespace) -> int:
    """``transcript --out DIR``: number and draw the season transcripts."""
    settings, _, clock = _setup(args)
    if not _has_state(settings, "no certificate has been issued"):
        return EXIT_FAILURE
    series = series_info(settings)
    with StateStore(settings.worker.state_file) as store:
        transcripts = issue_transcripts(store, settings.certificate, series, clock.now())
    written = write_transcripts(args.out, transcripts, template_dir=settings.mail.templates_dir, series=series,
                                design=settings.certificate)
    for t in transcripts:
        print(f"{t.record.number}  {t.record.name}: {len(t.sessions)} sesi, {t.record.jp} JP")
    held_back = len(transcripts) - len(written)
    print(f"{len(written)} transcript(s) written to {args.out}" + (f"; {held_back} held (see the log)" if held_back
                                                                  else ""))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """``report``: the season so far as one HTML file the office head can forward."""
    settings, _, clock = _setup(args)
    if not _has_state(settings, "nothing to report"):
        return EXIT_FAILURE
    now = clock.now()
    with StateStore(settings.worker.state_file) as store:
        items = season_items(store, now, settings.series.id)
        certificates = store.certificates("session")
    try:  # names and groups for the per-person table; an unreadable list only leaves them out
        listed = RecipientLists(settings, Integrations(), SystemClock()).load(sheets=False).recipients
    except WorkerError:
        listed = []
    path = write_report(args.out, items, title=settings.series.title, organizer=settings.series.organizer,
                        generated_at=now, timezone=settings.series.timezone, locale=settings.series.locale,
                        people=person_rows(items, listed, certificates))
    done, waiting = held(items), sum(1 for i in items if i.pending and not i.cancelled)
    line = f"{path}  ({len(done)} session(s) held, {sum(i.attended for i in done)} attendance(s)"
    print(line + (f"; {waiting} session(s) waiting for attendance from Zoom)" if waiting else ")"))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
