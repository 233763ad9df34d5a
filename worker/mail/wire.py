"""Finished messages as the bytes the SMTP server receives, with what a session's recipients share made once.

Building an ``EmailMessage`` and flattening it costs several milliseconds a message in the email
package (every header parsed when set and folded again when written, MIME parts assembled), far
more than the wire time (issue 18). Yet every recipient's copy of one session's mail of one kind
has the same shape: the same headers but To, Message-ID, Date and Subject, and the same MIME tree
whose three leaves (text, HTML, .ics) hold each person's own content.

A :class:`Shape` is learnt from one message built the ordinary way
(:func:`worker.mail.messages.build_message`): its bytes are cut into fixed chunks and slots. Later
messages fill the slots: the four headers folded by the email package's own policy, each leaf
encoded by the email package's own encoders. The shape proves itself when learnt, by rebuilding
its model message byte for byte; if it cannot, it is not used and every message is built the
ordinary way. The MIME boundaries are the shape's own (the email package picks random ones for
each message; any boundary that does not occur in the content is as good), and a leaf that
contains one falls back to the ordinary way for that message.

A :class:`PreparedMessage` is an ``EmailMessage`` that carries these bytes (``wire``) and the
envelope sender; the SMTP client sends the bytes as they are, and anything that looks inside the
message (tests, ``preview``) gets the message parsed back from the very same bytes.
"""
from __future__ import annotations

import binascii
import re
from email import quoprimime
from email import policy as email_policy
from email.contentmanager import _encode_text  # the encoder set_content uses: the same bytes, or we are wrong
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from io import BytesIO
from typing import Any

POLICY = email_policy.default  # EmailMessage's policy: what build_message's messages are written with
SLOT_HEADERS = ("to", "subject", "date", "message-id")  # the headers that differ between a session's recipients
LEAF_TYPES = ("text/plain", "text/html", "text/calendar")  # the leaves of series mail, in order
NEWLINES = re.compile(r"\r\n|\r|\n")  # what the generator turns into the line separator
PLAIN_NAME = re.compile(r"(?:[A-Za-z0-9]+(?: [A-Za-z0-9]+)*)?\Z")  # a display name of words: never quoted
PLAIN_USER = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*\Z")  # a dot-atom local part: never quoted
PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\Z")  # a plain domain name
PLAIN_ID = re.compile(r"<[0-9a-f]+@[a-z0-9.-]+>\Z")  # the Message-IDs worker.mail.messages.message_id makes
PLAIN_MAX = 76  # characters (with the newline) a header line may have and surely not be folded (limit: 78)


class PreparedMessage(EmailMessage):
    """A finished message whose bytes are made; its EmailMessage view is parsed from them when first asked for."""

    def __init__(self, wire: bytes, sender: str):
        self.__dict__.update(wire=wire, sender=sender, _view=None)  # wire: \n line ends, as as_bytes() gives

    def _parsed(self) -> dict[str, Any]:
        view = self.__dict__["_view"]
        if view is None:
            parsed = BytesParser(_class=EmailMessage, policy=POLICY).parsebytes(self.__dict__["wire"])
            view = self.__dict__["_view"] = parsed.__dict__
        return view

    def __getattr__(self, name: str) -> Any:
        """The parsed message's fields (``_headers``, ``_payload``, ``policy``, ...), parsed on first use."""
        if name.startswith("__") or name in ("wire", "sender", "_view"):
            raise AttributeError(name)
        try:
            return self._parsed()[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._parsed()[name] = value

    def __delattr__(self, name: str) -> None:
        del self._parsed()[name]

    def smtp_bytes(self) -> bytes:
        """The message with CRLF line ends, as ``smtplib.send_message`` would write it."""
        return self.__dict__["wire"].replace(b"\n", b"\r\n")


class Shape:
    """The chunks and slots of one session's mail of one kind; None from :meth:`learn` when it cannot be trusted."""

    def __init__(self, chunks: list[bytes | int | str], leaf_headers: list[dict[str, bytes]], sender: str,
                 boundaries: tuple[bytes, ...]):
        self.chunks = chunks  # fixed bytes; an int = leaf number; a str = header name (lower case)
        self.leaf_headers = leaf_headers  # per leaf: transfer encoding -> its header lines and blank line
        self.sender = sender  # the envelope sender: the From address, as smtplib would take it
        self.boundaries = boundaries  # must not occur in any leaf
        self.folded: dict[str, tuple[str, bytes]] = {}  # header -> (value, folded line(s)): Date and Subject repeat
        self.encoder = TextEncoder()  # the bodies' lines, encoded once

    @classmethod
    def learn(cls, model: EmailMessage) -> "Shape | None":
        """The shape of ``model`` (which gets its MIME boundaries set), or None when it has another structure."""
        data = model.as_bytes()  # sets the boundaries, so the second flatten below writes the same ones
        leaves = [part for part in model.walk() if not part.is_multipart()]
        if [p.get_content_type() for p in leaves] != list(LEAF_TYPES) or data != model.as_bytes():
            return None
        chunks: list[bytes | int | str] = []
        at = 0
        for name, value in model.raw_items():  # top-level headers, exactly as the generator writes them
            line = POLICY.fold_binary(name, value)
            if not data.startswith(line, at):
                return None
            chunks.append(name.lower() if name.lower() in SLOT_HEADERS else line)
            at += len(line)
        headers: list[dict[str, bytes]] = []
        for number, part in enumerate(leaves):
            alone = flatten(part)
            found = data.find(alone, at)
            if found < 0:
                return None
            chunks += [data[at:found], number]
            at = found + len(alone)
            head = alone[:alone.index(b"\n\n") + 2]
            headers.append({str(part.get("Content-Transfer-Encoding", "")).lower(): head})
        chunks.append(data[at:])
        boundaries = tuple(str(p.get_boundary()).encode() for p in model.walk() if p.is_multipart())
        shape = cls(merge(chunks), headers, model["From"].addresses[0].addr_spec, boundaries)
        values = {name: model[name] for name in SLOT_HEADERS}
        contents: list[str | bytes] = [leaves[0].get_content(), leaves[1].get_content(),
                                       leaves[2].get_payload(decode=True)]
        if shape.fill(values, contents) != data:  # it must rebuild its model exactly, or it is not used
            return None
        return shape

    def fill(self, headers: dict[str, Any], contents: list[str | bytes]) -> bytes | None:
        """One recipient's message: ``headers`` by lower-case name (values as set on an EmailMessage),
        ``contents`` the text, the HTML and the .ics bytes; None when the ordinary way must build it."""
        leaves = [self.text_leaf(0, str(contents[0]), "plain"), self.text_leaf(1, str(contents[1]), "html"),
                  self.calendar_leaf(2, bytes(contents[2]))]  # type: ignore[arg-type]
        if any(leaf is None or any(b in leaf for b in self.boundaries) for leaf in leaves):
            return None
        out = []
        for chunk in self.chunks:
            if isinstance(chunk, bytes):
                out.append(chunk)
            elif isinstance(chunk, int):
                out.append(leaves[chunk])  # type: ignore[arg-type]
            else:
                out.append(self.header(chunk, headers[chunk]))
        return b"".join(out)

    def header(self, name: str, value: Any) -> bytes:
        """The header as the generator writes it (parsed and folded by the policy); Date and Subject remembered."""
        text = str(value)
        last = self.folded.get(name)
        if last is not None and last[0] == text:
            return last[1]
        line = plain_header(name, value) or folded(name, value)
        if name in ("date", "subject"):  # the same for a whole batch; only the latest is kept
            self.folded[name] = (text, line)
        return line

    def text_leaf(self, number: int, text: str, subtype: str) -> bytes | None:
        """A text leaf as set_content and the generator make it; None for an encoding the model did not use."""
        cte, payload = self.encoder.encode(text)
        head = self.leaf_headers[number].get(cte)
        if head is None:
            return None
        if cte == "quoted-printable":  # its lines are joined with "\n" alone: nothing for the generator to change
            return head + payload.encode("ascii")
        return head + NEWLINES.sub("\n", payload).encode("ascii", "surrogateescape")


    def calendar_leaf(self, number: int, ics: bytes) -> bytes | None:
        """The .ics leaf: base64 in lines of 76, as set_content writes bytes."""
        head = self.leaf_headers[number].get("base64")
        if head is None:
            return None
        step = POLICY.max_line_length // 4 * 3
        return head + b"".join(binascii.b2a_base64(ics[i:i + step]) for i in range(0, len(ics), step))


class TextEncoder:
    """``_encode_text(text, "utf-8", None, POLICY)`` with each line's quoted-printable form remembered.

    Quoted-printable encodes every line on its own (``quoprimime.body_encode`` splits after
    escaping, which leaves no line break but ``\n``), so a body is the join of its lines' forms.
    A session's bodies differ from one person to the next in a line or two, so nearly every line
    is encoded once per batch instead of once per message. The choice of encoding is the email
    package's own rule, from the same line lengths and the same first ten lines.
    """

    def __init__(self, limit: int = 4096):
        self.lines: dict[bytes, str] = {}  # a line (utf-8) -> its quoted-printable form
        self.limit = limit  # lines remembered at most: a long-running worker must not grow without end

    def encode(self, text: str) -> tuple[str, str]:
        """(transfer encoding, payload with "\n" line ends), the same as the email package's."""
        lines = text.encode("utf-8").splitlines()
        if max(map(len, lines), default=0) <= POLICY.max_line_length:
            return _encode_text(text, "utf-8", None, POLICY)  # 7bit or 8bit: no encoding work to save
        sniff = self.body(lines[:10])
        if len(sniff) > len(binascii.b2a_base64(b"\n".join(lines[:10]) + b"\n")):
            return _encode_text(text, "utf-8", None, POLICY)  # base64: rare for Indonesian text
        return "quoted-printable", sniff if len(lines) <= 10 else self.body(lines)

    def body(self, lines: list[bytes]) -> str:
        """``quoprimime.body_encode`` of the lines joined with "\n" and ended by one."""
        if not lines:
            return ""
        known = self.lines
        out = [known[line] if line in known else self.line(line) for line in lines]
        out.append("")
        return "\n".join(out)

    def line(self, line: bytes) -> str:
        """One line's quoted-printable form, remembered."""
        if len(self.lines) >= self.limit:
            self.lines.clear()
        encoded = self.lines[line] = quoprimime.body_encode(line.decode("latin-1"), POLICY.max_line_length)
        return encoded


def folded(name: str, value: Any) -> bytes:
    """The header line(s) the generator writes for ``value`` set as header ``name`` (lower case)."""
    stored = value if hasattr(value, "fold") else POLICY.header_store_parse(canonical(name), value)[1]
    return POLICY.fold_binary(canonical(name), stored)


def plain_header(name: str, value: Any) -> bytes | None:
    """The line for a To or Message-ID that needs no quoting, encoding or folding, written directly; else None.

    Parsing and folding cost a tenth of a millisecond a header; for ``Budi Santoso <budi@example.org>``
    or ``<hex@domain>`` the policy writes the value as it is. :func:`plain_headers_agree` checks that
    on this Python before any message relies on it.
    """
    if name == "to" and isinstance(value, Address) and PLAIN_NAME.match(value.display_name) \
            and PLAIN_USER.match(value.username) and PLAIN_DOMAIN.match(value.domain):
        line = f"To: {value}\n"
    elif name == "message-id" and isinstance(value, str) and PLAIN_ID.match(value):
        line = f"Message-ID: {value}\n"
    else:
        return None
    return line.encode("ascii") if len(line) <= PLAIN_MAX and PLAIN_OK else None


def plain_headers_agree() -> bool:
    """True when the policy writes plain To and Message-ID values unchanged (checked once, at import)."""
    samples = [("to", Address("Peserta Nomor 12", "peserta.12", "example.org")), ("to", Address("", "a-b", "c.id")),
               ("message-id", "<0123456789abcdef0123456789abcdef@perpustakaan.example.go.id>")]
    return all(folded(n, v) == f"{canonical(n)}: {v}\n".encode("ascii") for n, v in samples)


def flatten(part: MIMEPart | EmailMessage) -> bytes:
    """A part alone, as the generator writes it inside its multipart."""
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=POLICY).flatten(part, unixfrom=False)
    return out.getvalue()


def merge(chunks: list[bytes | int | str]) -> list[bytes | int | str]:
    """Neighbouring fixed chunks joined, so filling is a short loop."""
    out: list[bytes | int | str] = []
    for chunk in chunks:
        if isinstance(chunk, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += chunk
        else:
            out.append(chunk)
    return out


def canonical(name: str) -> str:
    """``Message-ID`` for ``message-id``: the spelling build_message uses."""
    return {"to": "To", "subject": "Subject", "date": "Date", "message-id": "Message-ID"}[name]


PLAIN_OK = plain_headers_agree()  # a constant of this Python's email package, not state
