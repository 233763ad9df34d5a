"""The ``webinar-worker`` command: every command's text in the reader's language (``--lang``, LANG,
``series.locale``). Exit codes: 0 ok, 1 a runtime failure, 2 bad settings or usage, 3 another worker
already holds the state file."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from dataclasses import replace
from datetime import date as date_type
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from worker.argparsing import LocalParser, argv_language
from worker.config.envfile import RedactingFilter, Secrets, permission_warnings
from worker.config.settings import load_settings
from worker.core.clock import Clock, FixedClock, SystemClock, parse_moment
from worker.core.derive import policy, series_info
from worker.core.mailkinds import MAIL_KINDS, Audience, MailKind
from worker.core.mailload import bursts, overloads
from worker.core.model import MeetingInfo, Recipient
from worker.core.planner import plan_season
from worker.core.schema import Settings
from worker.crashpoint import crashpoint
from worker.i18n import N_, Text, Translator, translator_for
from worker.errors import AlreadyRunningError, SettingsError, StateError, UsageError, WorkerError
from worker.mail.composer import MailComposer, check_templates
from worker.mail.recipients import select_for_session
from worker.outputs.report import held, person_rows, season_items, write_report
from worker.outputs.status import render_status
from worker.outputs.transcript import issue_transcripts, write_transcripts
from worker.outputs.verify import REVOKED, SiteInfo, describe, publish_site
from worker.outputs.verify import status as certificate_status
from worker.run.alerts import settings_problem_text
from worker.run.engine import Integrations
from worker.run.lock import StateLock
from worker.run.wiring import RecipientLists, build_engine, build_integrations, default_env_file
from worker.store.state import StateStore

if TYPE_CHECKING:  # pragma: no cover - the runner (mail, .ics, alerts) loads only for the commands that tick
    from worker.run.runner import Runner

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3
DESCRIPTION = N_("Runs a library's weekly webinar series: the Zoom meetings, the calendar events, the invitations "
                 "and reminders, the attendance and the certificates. Staff edit settings.yaml; "
                 "the check command says what is wrong in it.")
EPILOG = N_("Exit codes: 0 ok, 1 a step failed (it is tried again later), 2 bad settings or usage, 3 another "
            "worker is already working on the same state file. Put -h after a command for its own help, "
            "for example: check -h")
LANG_HELP = N_("language of the output: id or en (default: LANG when it names one of them, else series.locale)")
SESSION_KINDS = tuple(k for k in MAIL_KINDS if MailKind(k).audience is not Audience.OPERATOR)  # a session's mail


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and ``python -m worker``.

    A reader that goes away early (``webinar-worker status | head -1``) ends the command quietly:
    stdout is pointed at the null device, as the Python docs recommend. The exit code is the
    command's own when it had finished (only its last lines were unread), else 0.
    """
    code: int | None = None
    try:
        try:
            code = _main(list(sys.argv[1:] if argv is None else argv))
        except SystemExit as stop:  # argparse after --help (0) or a usage error (2)
            code = stop.code if isinstance(stop.code, int) else (EXIT_OK if stop.code is None else EXIT_USAGE)
        sys.stdout.flush()  # inside the guard: a closed pipe found at exit would print a traceback-like note
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK if code is None else code


def _silence_stdout() -> None:
    """Point stdout at the null device, so the interpreter's last flush finds nothing to complain about."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout without a file descriptor (a test's capture): nothing to flush into
        pass


def _main(argv: list[str]) -> int:
    parser = _parser(argv_language(argv))
    args = parser.parse_args(argv)
    try:
        # Commands read their text through args.t; _setup may switch it to the settings' locale.
        args.t = translator_for(getattr(args, "lang", None))
    except ValueError as exc:
        _error(parser.t, exc)
        return EXIT_USAGE
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except AlreadyRunningError as exc:
        _error(args.t, exc)
        return EXIT_LOCKED
    except SettingsError as exc:
        t: Translator = args.t
        count = len(exc.problems)
        verbose = getattr(args, "verbose", False)
        print("\n".join(t.problem(p, verbose=verbose) for p in exc.problems) + "\n\n"
              + t.n_("{count} problem found; nothing was changed.", "{count} problems found; nothing was changed.",
                     count), file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # bad --now and similar usage errors (UsageError among them)
        _error(args.t, exc)
        return EXIT_USAGE
    except (StateError, WorkerError) as exc:
        _error(args.t, exc)
        return EXIT_FAILURE


def _error(t: Translator, exc: BaseException) -> None:
    print(t._("error: {message}", message=t.error(exc)), file=sys.stderr)


def _parser(t: Translator) -> LocalParser:
    """Every command and option, with the help texts in ``t``'s language."""
    parser = LocalParser(prog="webinar-worker", t=t, description=t._(DESCRIPTION), epilog=t._(EPILOG))
    parser.add_argument("--lang", help=t._(LANG_HELP))
    sub = parser.add_subparsers(dest="command", title=t._("commands"), metavar=t._("COMMAND"))

    def command(name: str, func: Callable[[argparse.Namespace], int], help_text: str, *, now: bool = False,
                settings: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if settings:
            p.add_argument("--settings", type=Path, default=Path("settings.yaml"), metavar=t._("FILE"),
                           help=t._("settings file (default: ./settings.yaml)"))
            p.add_argument("--log-format", choices=("text", "json"), default="text",
                           help=t._("log lines as text (ISO time with offset) or one JSON object each, "
                                    "for log collectors"))
        # SUPPRESS: a subcommand left without --lang keeps the one given before it ("webinar-worker --lang en plan").
        p.add_argument("--lang", default=argparse.SUPPRESS, help=t._(LANG_HELP))
        if now:
            p.add_argument("--now", metavar=t._("MOMENT"), help=t._("act as if it were this moment, e.g. 2027-01-14T08:00+08:00"))
        p.set_defaults(func=func)
        return p

    check = command("check", cmd_check, t._("check settings.yaml and the templates offline; exit 2 listing every "
                                            "problem, exit 1 when an integration is not configured"))
    check.add_argument("--offline-ok", action="store_true",
                       help=t._("exit 0 even when integrations are not configured (CI, or trying the settings)"))
    check.add_argument("--certificate", action="store_true",
                       help=t._("also draw the sample certificate and transcript as PDF (slower: loads the PDF "
                                "library)"))
    check.add_argument("--verbose", action="store_true",
                       help=t._("also show the YAML reader's own words for a syntax mistake (for the IT person)"))
    command("doctor", cmd_doctor, t._("try each integration the settings use, for real (Zoom token, scopes and "
                                      "host; calendar; spreadsheet; SMTP login; recipient sources); exit 0 only "
                                      "if all work"))
    send_test = command("send-test", cmd_send_test, t._("send one real mail of a kind to ADDRESS through the "
                                                        "configured SMTP server, outside the outbox (nobody else "
                                                        "gets anything)"))
    send_test.add_argument("address", metavar=t._("ADDRESS"),
                           help=t._("where the test mail goes, e.g. your own address"))
    send_test.add_argument("--kind", choices=SESSION_KINDS, default="invitation",
                           help=t._("which mail (default: invitation)"))
    send_test.add_argument("--date", metavar=t._("DATE"), help=t._("the session date, e.g. 2027-01-14 (default: the next session)"))
    plan = command("plan", cmd_plan, t._("show the season's sessions and what will happen when"), now=True)
    plan.add_argument("--wide", action="store_true", help=t._("one long line per session with the full topic"))
    once = command("once", cmd_once, t._("run one reconcile tick, then exit"), now=True)
    once.add_argument("--dry-run", action="store_true", help=t._("print the steps that are due; call nothing"))
    command("run", cmd_run, t._("run until stopped (SIGTERM/SIGINT), ticking every worker.tick_seconds"))
    status = command("status", cmd_status, t._("the last tick, then per session: what exists, what was sent, "
                                               "what is pending, the last error; exit 1 when the worker has not "
                                               "ticked for a while"), now=True)
    status.add_argument("--json", action="store_true", help=t._("the worker's health as JSON, for monitoring"))
    status.add_argument("--wide", action="store_true",
                        help=t._("long lines as they are, not wrapped at 80 columns"))
    preview = command("preview", cmd_preview, t._("render one session's mails to .eml and .html files; sends "
                                                  "nothing"))
    preview.add_argument("date", metavar=t._("DATE"), help=t._("the session date, e.g. 2027-01-14"))
    preview.add_argument("--kind", choices=(*SESSION_KINDS, "all"), default="all",
                         help=t._("which mail (default: all)"))
    preview.add_argument("--out", type=Path, default=Path("preview"), metavar=t._("FOLDER"),
                         help=t._("output folder (default: {folder})", folder="./preview"))
    share = command("share", cmd_share, t._("write ready-to-paste WhatsApp messages for one session "
                                             "(announcement, the day before, the day itself, thank-you), each "
                                             "with a wa.me link; sends nothing"))
    share.add_argument("date", metavar=t._("DATE"), help=t._("the session date, e.g. 2027-01-14"))
    share.add_argument("--out", type=Path, default=Path("whatsapp"), metavar=t._("FOLDER"),
                       help=t._("output folder (default: {folder})", folder="./whatsapp"))
    report = command("report", cmd_report, t._("write the season report (HTML with a chart) from the stored "
                                               "attendance"), now=True)
    report.add_argument("--out", type=Path, default=Path("report"), metavar=t._("FOLDER"),
                        help=t._("output folder (default: {folder})", folder="./report"))
    verify = command("verify", cmd_verify, t._("say whether a certificate number is genuine (from the state "
                                               "file)"))
    verify.add_argument("number", metavar=t._("NUMBER"),
                        help=t._("the number printed on the certificate, e.g. 007/SERT/WEBINAR/I/2027"))
    publish = command("publish-verify", cmd_publish_verify, t._("write the static verification site: one HTML "
                                                                "page per certificate number plus an index"))
    publish.add_argument("--out", type=Path, default=Path("verifikasi"), metavar=t._("FOLDER"),
                         help=t._("output folder (default: {folder})", folder="./verifikasi"))
    transcript = command("transcript", cmd_transcript, t._("issue the season transcripts (PDF) for people who "
                                                           "attended at least certificate.transcript_min_sessions "
                                                           "sessions"), now=True)
    transcript.add_argument("--out", type=Path, default=Path("transkrip"), metavar=t._("FOLDER"),
                            help=t._("output folder (default: {folder})", folder="./transkrip"))
    init = command("init", cmd_init, t._("write a starting settings.yaml, the templates, a .env and a systemd "
                                         "unit into FOLDER (nothing existing is overwritten)"), settings=False)
    init.description = t._("Write a commented settings.yaml, the mail templates (for staff to edit), a .env for "
                           "the secrets (mode 0600) and a systemd unit into FOLDER.")
    init.add_argument("dir", nargs="?", type=Path, default=Path("."), metavar=t._("FOLDER"),
                      help=t._("the folder (default: the current one)"))
    demo = command("demo", cmd_demo, t._("run a whole season against the built-in sandbox (no accounts, no "
                                         "network)"), settings=False)
    demo.description = t._("Start the Zoom and Google emulators and an SMTP server on 127.0.0.1 and run the "
                           "worker over a simulated four-week season; files go to --out.")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), metavar=t._("FOLDER"),
                      help=t._("output folder (default: {folder})", folder="./demo-output"))
    demo.add_argument("--quiet", action="store_true", help=t._("no progress bar"))
    return parser


# -- shared helpers ---------------------------------------------------------------
def _speak(args: argparse.Namespace, settings: Settings) -> Translator:
    """Switch ``args.t`` to the language --lang, LANG or, failing both, the settings' locale asks for."""
    args.t = translator_for(getattr(args, "lang", None), settings_locale=settings.series.locale)
    return args.t


def _setup(args: argparse.Namespace) -> tuple[Settings, Secrets, Clock]:
    settings = load_settings(args.settings)
    secrets = Secrets.load(os.environ, default_env_file(args.settings))
    _logging(settings.worker.log_level, secrets, getattr(args, "log_format", "text"))
    _speak(args, settings)
    return settings, secrets, _clock(args, settings)


def _clock(args: argparse.Namespace, settings: Settings) -> Clock:
    """The system clock, or the moment ``--now`` names (read in the series' zone when it has no offset)."""
    if not getattr(args, "now", None):
        return SystemClock()
    try:
        return FixedClock(parse_moment(args.now, settings.series.timezone))
    except ValueError:
        raise UsageError(N_("{value} is not an ISO date-time such as 2027-01-14T08:00+08:00"),
                         value=repr(args.now)) from None


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


def _has_state(settings: Settings, hint: str, t: Translator) -> bool:
    """True when the state file exists; otherwise say so (with ``hint``, marked with N_) and return False."""
    if settings.worker.state_file.exists():
        return True
    print(t._("no state yet ({path} does not exist): {hint}", path=settings.worker.state_file, hint=t._(hint)))
    return False


# -- commands -----------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    """``check``: settings, then templates rendered with sample data, then what is configured."""
    settings = load_settings(args.settings)
    t = _speak(args, settings)
    problems = _template_problems(settings, draw_certificate=args.certificate)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print("\n" + t.n_("{count} template problem found.", "{count} template problems found.", len(problems)),
              file=sys.stderr)
        return EXIT_USAGE
    plan = plan_season(settings)
    active = [s for s in plan.sessions if not s.cancelled]
    print(t._("{file}: valid — {sessions}, {cancelled} cancelled, {skipped}.", file=args.settings,
              sessions=t.n_("{count} session", "{count} sessions", len(active)),
              cancelled=len(plan.sessions) - len(active),
              skipped=t.n_("{count} skipped date", "{count} skipped dates", len(plan.skipped))))
    for day in plan.without_topic:
        print(t._("note: {day} is a series date with no entry in topics; it will not be scheduled.", day=day))
    if settings.followup.enabled and settings.followup.certificate and not args.certificate:
        print(t._("note: the certificate was checked without drawing it; "
                  "`webinar-worker check --certificate` also draws a sample PDF."))
    secrets = Secrets.load(os.environ, default_env_file(args.settings))
    io = build_integrations(settings, secrets)
    for name, why in sorted(io.missing.items()):
        print(t._("not configured: {name}: {why}", name=name, why=t.error(why)))
    if "zoom" not in io.missing:
        from integrations.zoom import scopes_needed  # the vendor client loads only when Zoom is configured

        print(t._("Zoom: the Server-to-Server OAuth app needs these scopes:"))
        for line in scopes_needed(settings.zoom.registration):
            print(f"  - {line}")
        if settings.zoom.registration:
            print("  " + t._("registration needs a licensed (Pro or higher) host user as zoom.user_id"))
    problems, unreadable = _recipient_problems(settings, io)
    for problem in problems:
        print(t._("warning: recipient list: {problem} (not sent to)", problem=problem))
    for line in _recipient_column_lines(settings, io, args.t):
        print(line)
    for line in _mail_load_warnings(settings, io, SystemClock().now()):
        print(t._("warning: {message}", message=t.error(line)))
    for line in _suppressed_lines(settings, t):
        print(line)
    key_file = settings.google.credentials_file or secrets.get("GOOGLE_APPLICATION_CREDENTIALS")
    for warning in permission_warnings({".env": default_env_file(args.settings),
                                        t._("the Google key file"): Path(key_file) if key_file else None}):
        print(t._("warning: {message}", message=t.error(warning)))
    if unreadable:
        print("\n".join(t.error(u) for u in unreadable), file=sys.stderr)
        print("\n" + t.n_("{count} recipient list cannot be read.", "{count} recipient lists cannot be read.",
                          len(unreadable)), file=sys.stderr)
        return EXIT_USAGE
    smtp = settings.mail.smtp
    if "mail" not in io.missing and smtp.host not in ("localhost", "127.0.0.1", "::1") and not (
            secrets.get("SMTP_USERNAME") and secrets.get("SMTP_PASSWORD")):
        print(t._("warning: mail: SMTP_USERNAME and SMTP_PASSWORD are not both set; {host} will be used without "
                  "logging in (most providers, Gmail included, refuse that)", host=smtp.host))
    if io.missing:
        names = ", ".join(sorted(io.missing))
        if args.offline_ok:
            print(t._("settings and templates OK; not configured: {names} (accepted by --offline-ok)", names=names))
            return EXIT_OK
        print(t.n_("NOT READY: {count} integration not configured: {names}. Steps that need it will wait; pass "
                   "--offline-ok to accept this (CI).",
                   "NOT READY: {count} integrations not configured: {names}. Steps that need them will wait; pass "
                   "--offline-ok to accept this (CI).", len(io.missing), names=names))
        return EXIT_FAILURE
    print(t._("OK: everything the settings use is configured (`webinar-worker doctor` tries it for real)"))
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    """``doctor``: each integration tried for real, in plain words; exit 1 when any of them does not work."""
    from worker.run.doctor import default_recipients, diagnose

    settings, secrets, _ = _setup(args)
    t: Translator = args.t
    io = build_integrations(settings, secrets)
    findings = diagnose(settings, io, default_recipients(settings, io), t)
    for finding in findings:
        verdict = t._("OK") if finding.ok else t._("PROBLEM")
        print(f"{finding.name:<11} {verdict}")
        for line in finding.lines:
            print(f"  {line}")
    bad = [f.name for f in findings if not f.ok]
    print("\n" + (t.n_("{count} integration does not work: {names}", "{count} integrations do not work: {names}",
                       len(bad), names=", ".join(bad)) if bad
                  else t._("everything the settings use works")))
    return EXIT_FAILURE if bad else EXIT_OK


def _session_on(day_text: str, settings: Settings, path: Path):
    """The session on ``day_text`` (an ISO date); UsageError naming the date when there is none."""
    try:
        day = date_type.fromisoformat(day_text)
    except ValueError:
        raise UsageError(N_("{value} is not a date such as 2027-01-14"), value=repr(day_text)) from None
    session = next((s for s in plan_season(settings).sessions if s.date == day), None)
    if session is None:
        raise UsageError(N_("{day} is not a session in {file} (see `webinar-worker plan`)"), day=day, file=path)
    return session


def cmd_send_test(args: argparse.Namespace) -> int:
    """``send-test ADDRESS``: one real mail of one kind, straight to SMTP; the outbox is not touched."""
    from worker.core.cleaning import clean_email

    settings, secrets, clock = _setup(args)
    t: Translator = args.t
    address = clean_email(args.address)
    if address is None:
        raise UsageError(N_("{value} is not an email address"), value=repr(args.address))
    sessions = [s for s in plan_season(settings).sessions if not s.cancelled]
    if args.date:
        session = _session_on(args.date, settings, args.settings)
    else:
        now = clock.now()
        session = next((s for s in sessions if s.start_utc > now), sessions[-1] if sessions else None)
        if session is None:
            raise UsageError(N_("{file} has no session to take the mail's text from"), file=args.settings)
    io = build_integrations(settings, secrets)
    if io.mail is None or io.composer is None:
        why = io.missing.get("mail") or io.missing.get("composer") or ""
        print(t._("error: mail is not configured: {why}", why=t.error(why)), file=sys.stderr)
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
    print(t._("sent {kind} for {session} to {address}: {subject}", kind=args.kind, session=session.key,
              address=address, subject=message["Subject"]))
    return EXIT_OK


def _recipient_problems(settings: Settings, io: Integrations) -> tuple[list[str], list[str]]:
    """Row problems and unreadable files in the local recipient sources (sheet ranges are read by the worker)."""
    try:
        load = RecipientLists(settings, io, SystemClock()).load(sheets=False)
    except WorkerError as exc:  # an unsubscribe list that cannot be read: no mail would go out
        return [], [Text.of(exc)]
    return load.problems, load.unreadable


def _recipient_column_lines(settings: Settings, io: Integrations, t) -> list[str]:
    """Per local list, the header taken for e-mail, name and group, and a warning when no e-mail or name is found."""
    from worker.mail.recipients import column_letter

    try:
        load = RecipientLists(settings, io, SystemClock()).load(sheets=False)
    except WorkerError:  # an unreadable unsubscribe list is reported by check already
        return []
    lines = []
    for found in load.columns:
        lines.append(t._("recipient list {label}:", label=found.label))
        for role, header, index in ((t._("e-mail column"), found.email, found.email_index),
                                    (t._("name column"), found.name, found.name_index),
                                    (t._("group column"), found.group, found.group_index)):
            if index >= 0:
                lines.append("  " + t._("{role}: '{header}' (column {letter})", role=role, header=header,
                                        letter=column_letter(index)))
        if found.email_index < 0:
            lines.append(t._("warning: {label}: no e-mail column found; nobody on this list gets mail. Name the "
                             "column 'Alamat email' or set mail.recipients.columns.email", label=found.label))
        elif found.name_index < 0:
            lines.append(t._("warning: {label}: no name column found; mails greet 'Sahabat Perpustakaan'. Name the "
                             "column 'Nama Lengkap' or set mail.recipients.columns.name", label=found.label))
    return lines


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
        lines.append(Text(N_("mail: the estimate leaves out the people in mail.recipients.sheet_ranges; the real "
                             "load is higher")))
    return lines


def _suppressed_lines(settings: Settings, t: Translator) -> list[str]:
    """The addresses that bounced and get no more mail, from the state file (none when there is none yet)."""
    if not settings.worker.state_file.exists():
        return []
    with StateStore(settings.worker.state_file) as store:
        suppressed = store.suppressed()
    return [t._("suppressed (bounced, no more mail): {email} — {session}: {why}", email=email, session=uid, why=why)
            for email, (why, uid, _) in suppressed.items()]


def _template_problems(settings: Settings, draw_certificate: bool = False) -> list[str]:
    """Problems in the mail and certificate templates (an import failure is a crash, never "OK").

    The certificate is laid out as PDF only with ``draw_certificate``: the PDF library costs most of
    a second and tens of MiB, and the templates, fonts and images are checked without it."""
    return check_templates(settings, draw_certificate=draw_certificate)


def cmd_plan(args: argparse.Namespace) -> int:
    """``plan``: the season's dates in order with the moments things happen (80 columns; ``--wide``: one line each)."""
    from worker.outputs.columns import fit
    from worker.outputs.plan import plan_lines

    settings, _, clock = _setup(args)
    now = clock.now()
    lines = plan_lines(plan_season(settings), policy(settings), title=settings.series.title,
                       zone=settings.series.timezone, now=now, t=args.t, wide=args.wide)
    warnings = [f"warning: {line}" for line in _mail_load_warnings(settings, Integrations(), now)]
    print("\n".join(lines + (warnings if args.wide else fit(warnings))))
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
        _speak(args, kept)
        return kept, secrets, _clock(args, kept), settings_problem_text(exc)


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
    t: Translator = args.t
    words = {"done": t._("done"), "blocked": t._("blocked"), "failed": t._("failed")}
    width = max(len(w) for w in words.values()) + 2  # the step column lines up in either language
    for step in report.done:
        print(f"{words['done']:<{width}}{step}")
    for step, why in report.blocked:
        print(f"{words['blocked']:<{width}}{step.kind} {step.uid}: {t.error(why)}")
    for step, why in report.failed:
        print(f"{words['failed']:<{width}}{step.kind} {step.uid}: {t.error(why)}")
    if not (report.done or report.blocked or report.failed):
        print(t._("nothing to do"))
    return EXIT_FAILURE if report.failed else EXIT_OK


def _dry_run(args: argparse.Namespace, settings: Settings, secrets: Secrets, clock: Clock) -> int:
    """The due steps; no lock, and no state file or folder is created when there is none yet."""
    exists = settings.worker.state_file.exists()
    store = StateStore(settings.worker.state_file if exists else ":memory:")
    try:
        report = _engine_runner(args, store, settings, secrets, clock, keep_health=False).run_once(dry_run=True)
    finally:
        store.close()
    t: Translator = args.t
    print("\n".join(f"{s.kind:<19} {s.uid:<28} {t.error(s.reason)}" for s in report.planned)
          or t._("nothing to do"))
    if report.planned:
        print("(" + t.n_("{count} step due; later steps follow once it is done",
                         "{count} steps due; later steps follow once these are done", len(report.planned)) + ")")
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
    from worker.outputs.columns import WIDTH, fit
    from worker.outputs.status import health_lines, health_report

    settings, _, clock, problem = _setup_or_last_good(args)
    if not settings.worker.state_file.exists():
        if args.json:
            print(json.dumps({"healthy": False, "reason": "no state file yet"}))
            return EXIT_FAILURE
        _has_state(settings, N_("run `webinar-worker once` first"), args.t)
        return EXIT_OK
    with StateStore(settings.worker.state_file) as store:
        health = health_report(settings, store, clock.now(), problem)
        if args.json:
            print(json.dumps(health, ensure_ascii=False, indent=2))
        else:
            width = None if args.wide else WIDTH
            print("\n".join(fit(health_lines(health, settings, args.t), width)))
            print()
            print(render_status(settings, store, clock.now(), args.t, width))
    return EXIT_OK if health["healthy"] else EXIT_FAILURE


def cmd_preview(args: argparse.Namespace) -> int:
    """``preview``: the mails for one session, as files staff can open."""
    settings, _, _ = _setup(args)
    session = _session_on(args.date, settings, args.settings)
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
        print(f"{kind:<13} {message['Subject']}\n{'':<13} {base}.eml")
    return EXIT_OK


def cmd_share(args: argparse.Namespace) -> int:
    """``share DATE``: the session's WhatsApp messages, printed and written to ``--out/whatsapp-DATE.txt``."""
    from worker.mail.render import Renderer, format_day
    from worker.outputs.share import MESSAGE_MAX, build_pack, pack_text, templates_for_share, too_long, write_pack
    from worker.skeleton import PACKAGE_TEMPLATES

    settings, _, _ = _setup(args)
    t = args.t
    try:
        day = date_type.fromisoformat(args.date)
    except ValueError:
        raise ValueError(t._("{value} is not a date such as 2027-01-14", value=repr(args.date))) from None
    session = next((s for s in plan_season(settings).sessions if s.date == day), None)
    if session is None:
        raise ValueError(t._("{day} is not a session in {path} (see `webinar-worker plan`)",
                             day=day, path=args.settings))
    if session.cancelled:
        print(t._("{day} is cancelled: there is nothing to announce.", day=day), file=sys.stderr)
        return EXIT_USAGE
    state = None
    if settings.worker.state_file.exists():
        with StateStore(settings.worker.state_file) as store:
            state = store.session(session.uid)
    series = series_info(settings)
    renderer = Renderer(templates_for_share(settings.mail.templates_dir, PACKAGE_TEMPLATES))
    pack = build_pack(renderer, session, series, state, min_minutes=settings.followup.min_minutes,
                      certificate=settings.followup.enabled and settings.followup.certificate)
    text = pack_text(pack, series, t, lambda d: format_day(d, series.locale))
    path = write_pack(args.out, pack, text)
    print(text)
    for message in too_long(pack):
        print(t._("warning: the message '{title}' has {count} characters; WhatsApp readers prefer under {limit}",
                  title=t._(message.title), count=len(message.text), limit=MESSAGE_MAX), file=sys.stderr)
    if not pack.link:
        print(t._("warning: no Zoom meeting exists yet for {day}; the messages say the link will follow",
                  day=day), file=sys.stderr)
    print(t._("written: {path}", path=path))
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    """``init [DIR]``: the files a new installation starts from; existing files are kept."""
    from worker.skeleton import init_folder

    t: Translator = args.t
    result = init_folder(args.dir)
    for path in result.written:
        print(t._("wrote  {path}", path=path))
    for path in result.kept:
        print(t._("kept   {path} (exists)", path=path))
    folder = args.dir.resolve()
    settings, placeholder = folder / "settings.yaml", t._("YOUR@ADDRESS")
    print("\n" + t._("next: edit {settings} and {env}, then run", settings=settings, env=folder / ".env") + "\n"
          f"  webinar-worker check --settings {settings}\n"
          f"  webinar-worker doctor --settings {settings}\n"
          f"  webinar-worker send-test {placeholder} --settings {settings}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """``demo``: the sandbox season, with a progress bar and a summary of what it produced."""
    from worker.demo import print_summary, run_demo  # the emulators and SMTP server load only for the demo

    logging.getLogger().setLevel(logging.WARNING)
    summary = run_demo(args.out, args.t, show_progress=not args.quiet)
    print_summary(summary, args.t)
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """``verify NUMBER``: what the certificate says and whether it stands; exit 1 when unknown or revoked."""
    settings, _, _ = _setup(args)
    t: Translator = args.t
    if not _has_state(settings, N_("no certificate has been issued"), t):
        return EXIT_FAILURE
    with StateStore(settings.worker.state_file) as store:
        record = store.certificate(args.number)
    if record is None:
        print(t._("{number}: NOT FOUND — no certificate with this number was issued by this worker",
                  number=args.number))
        return EXIT_FAILURE
    print(describe(record, settings.certificate.revoked, settings.series.locale, t))
    return EXIT_FAILURE if certificate_status(record, settings.certificate.revoked) == REVOKED else EXIT_OK


def cmd_publish_verify(args: argparse.Namespace) -> int:
    """``publish-verify --out DIR``: static pages anyone can host (no e-mail addresses in them)."""
    settings, _, _ = _setup(args)
    t: Translator = args.t
    if not _has_state(settings, N_("no certificate has been issued"), t):
        return EXIT_FAILURE
    with StateStore(settings.worker.state_file) as store:
        records = store.certificates()
    site = SiteInfo(title=settings.series.title, organizer=settings.series.organizer, locale=settings.series.locale)
    written = publish_site(args.out, records, settings.certificate.revoked, site)
    print(f"{args.out / 'index.html'}  ("
          + t.n_("{count} certificate page", "{count} certificate pages", len(written) - 1) + ")")
    return EXIT_OK


def cmd_transcript(args: argparse.Namespace) -> int:
    """``transcript --out DIR``: number and draw the season transcripts."""
    settings, _, clock = _setup(args)
    t: Translator = args.t
    if not _has_state(settings, N_("no certificate has been issued"), t):
        return EXIT_FAILURE
    series = series_info(settings)
    with StateStore(settings.worker.state_file) as store:
        transcripts = issue_transcripts(store, settings.certificate, series, clock.now())
    written = write_transcripts(args.out, transcripts, template_dir=settings.mail.templates_dir, series=series,
                                design=settings.certificate)
    for issued in transcripts:
        print(f"{issued.record.number}  {issued.record.name}: "
              + t.n_("{count} session", "{count} sessions", len(issued.sessions)) + f", {issued.record.jp} JP")
    held_back = len(transcripts) - len(written)
    line = t.n_("{count} transcript written to {folder}", "{count} transcripts written to {folder}", len(written),
                folder=args.out)
    print(line + (t.n_("; {count} held (see the log)", "; {count} held (see the log)", held_back) if held_back
                  else ""))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """``report``: the season so far as one HTML file the office head can forward; the path, then the counts."""
    from worker.outputs.columns import fit

    settings, _, clock = _setup(args)
    if not _has_state(settings, N_("nothing to report"), args.t):
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
    t = args.t
    counts = t._("{sessions} session(s) held, {attendances} attendance(s)", sessions=len(done),
                 attendances=sum(i.attended for i in done))
    if waiting:
        counts += "; " + t._("{count} session(s) waiting for attendance from Zoom", count=waiting)
    print(path)  # whole, however long: staff copy it
    print("\n".join(fit([f"  ({counts})"])))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
