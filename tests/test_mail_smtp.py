"""The SMTP transport against a real aiosmtpd server on 127.0.0.1."""
from __future__ import annotations

import socket
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from integrations.sandbox.smtp_server import SandboxSmtpServer
from integrations.smtp import SmtpConfig, SmtpTransport
from tests.helpers_smtp import body, calendar_of, compose, parse, transport_for
from tests.helpers_time import FakeTime
from worker.errors import AuthError, PermanentMailError, TemporaryMailError, TransientError
from worker.core.model import Recipient

JOIN_URL = "https://zoom.us/j/85012345678?pwd=contoh"


def people(*names: str) -> list[Recipient]:
    return [Recipient(f"{n}@example.org", n.title()) for n in names]


def send_all(transport: SmtpTransport, recipients: list[Recipient]) -> dict[str, Exception]:
    """Send one invitation to each recipient over one connection; the errors by address."""
    errors: dict[str, Exception] = {}
    with transport.connect() as connection:
        for r in recipients:
            try:
                connection.send(compose("invitation", r), r.email)
            except (PermanentMailError, TemporaryMailError) as exc:
                errors[r.email] = exc
    return errors


def test_an_invitation_arrives_whole(smtp_server: SandboxSmtpServer) -> None:
    send_all(transport_for(smtp_server), people("budi"))

    [received] = smtp_server.messages
    assert received.rcpt_tos == ("budi@example.org",)
    assert received.mail_from == "webinar@perpustakaan.example.go.id"
    message = parse(received.data)
    assert "Kamis, 14 Januari 2027" in str(message["Subject"])
    text, html = body(message, "plain"), body(message, "html")
    assert JOIN_URL in text and f'href="{JOIN_URL}"' in html
    assert "Kamis, 14 Januari 2027" in text and "09.00–10.30 WITA" in html

    calendar = calendar_of(message)
    event = calendar.walk("VEVENT")[0]
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == "webinar-kamis-2027-01-14@webinar-worker"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == datetime(2027, 1, 14, 9, tzinfo=ZoneInfo("Asia/Makassar"))
    assert event["DTSTART"].params["TZID"] == "Asia/Makassar"


def test_only_the_envelope_recipient_gets_the_message(smtp_server: SandboxSmtpServer) -> None:
    sneaky = Recipient("budi@example.org", "Budi\r\nBcc: x@y.example")
    with transport_for(smtp_server).connect() as connection:
        connection.send(compose("invitation", sneaky), sneaky.email)

    assert [m.rcpt_tos for m in smtp_server.messages] == [("budi@example.org",)]
    assert parse(smtp_server.messages[0].data)["Bcc"] is None


def test_a_421_drop_mid_batch_reconnects_and_finishes(smtp_server: SandboxSmtpServer) -> None:
    smtp_server.drop_after = 2
    recipients = people("ani", "budi", "citra", "dedi", "eka")

    errors = send_all(transport_for(smtp_server), recipients)

    assert errors == {}
    assert [m.rcpt_tos[0] for m in smtp_server.messages] == [r.email for r in recipients]
    assert [m.connection for m in smtp_server.messages] == [1, 1, 2, 2, 2]


def test_a_550_fails_one_address_and_the_rest_go_on_the_same_connection(smtp_server: SandboxSmtpServer) -> None:
    smtp_server.refuse.add("salah@example.org")
    recipients = people("ani", "salah", "citra")

    errors = send_all(transport_for(smtp_server), recipients)

    assert list(errors) == ["salah@example.org"]
    error = errors["salah@example.org"]
    assert isinstance(error, PermanentMailError) and error.status == 550 and not error.retryable
    assert "salah@example.org" in str(error)
    assert [m.rcpt_tos[0] for m in smtp_server.messages] == ["ani@example.org", "citra@example.org"]
    assert smtp_server.connections == 1


def test_a_450_is_temporary(smtp_server: SandboxSmtpServer) -> None:
    smtp_server.defer.add("sibuk@example.org")
    errors = send_all(transport_for(smtp_server), people("sibuk"))
    assert isinstance(errors["sibuk@example.org"], TemporaryMailError)
    assert errors["sibuk@example.org"].retryable and errors["sibuk@example.org"].status == 450


def test_the_per_minute_cap_waits_through_the_injected_sleep(smtp_server: SandboxSmtpServer,
                                                             clock: FakeTime) -> None:
    transport = transport_for(smtp_server, per_minute=2, sleep=clock.sleep, clock=clock.monotonic)

    send_all(transport, people("a", "b", "c", "d", "e"))

    assert len(smtp_server.messages) == 5
    assert clock.sleeps == [60.0, 60.0]  # two fit per minute: 2 now, 2 after a minute, 1 after two


def test_without_a_cap_nothing_sleeps(smtp_server: SandboxSmtpServer, clock: FakeTime) -> None:
    send_all(transport_for(smtp_server, per_minute=0, sleep=clock.sleep, clock=clock.monotonic), people("a", "b", "c"))
    assert clock.sleeps == [] and len(smtp_server.messages) == 3


def test_login_is_used_when_configured() -> None:
    with SandboxSmtpServer(login=("webinar", "rahasia-123")) as server:
        send_all(transport_for(server, username="webinar", password="rahasia-123"), people("budi"))
        assert len(server.messages) == 1


def test_a_refused_login_is_an_auth_error_that_never_shows_the_password() -> None:
    with SandboxSmtpServer(login=("webinar", "rahasia-123")) as server:
        transport = transport_for(server, username="webinar", password="salah-sandi-xyz")
        with pytest.raises(AuthError) as caught:
            with transport.connect():
                pass
    message = str(caught.value)
    assert "SMTP_USERNAME" in message and "SMTP_PASSWORD" in message
    assert "salah-sandi-xyz" not in message and "salah-sandi-xyz" not in repr(caught.value.__cause__ or "")


def test_a_refused_connection_is_transient() -> None:
    with socket.socket() as holder:  # bound but not listening: connecting is refused
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        transport = SmtpTransport(SmtpConfig("127.0.0.1", port, security="none", local_hostname="localhost"))
        with pytest.raises(TransientError, match="connection refused") as caught:
            with transport.connect():
                pass
    assert caught.value.retryable


def test_the_config_repr_hides_the_password() -> None:
    config = SmtpConfig("smtp.example.org", username="webinar", password="rahasia-123")
    assert "rahasia-123" not in repr(config)
    assert "password='***'" in repr(config)


def test_an_unknown_security_mode_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="starttls, ssl, none"):
        SmtpConfig("smtp.example.org", security="tls")


def test_the_sandbox_saves_eml_files(tmp_path) -> None:
    with SandboxSmtpServer(save_dir=tmp_path / "outbox") as server:
        send_all(transport_for(server), people("budi"))
    [saved] = sorted((tmp_path / "outbox").glob("*.eml"))
    assert saved.name == "0001-budi@example.org.eml"
    assert parse(saved.read_bytes())["To"].addresses[0].addr_spec == "budi@example.org"
