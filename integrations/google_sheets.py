"""Attendance in Google Sheets: one tab per session and a season summary tab with a chart.

A sync makes at most two write calls (the quota is 60 writes a minute per user):
``spreadsheets.batchUpdate`` only when a tab or the chart is missing, then one
``values.batchUpdate``, and no read: the layout (which tabs exist, how many rows a session
tab had, which summary row holds which date) is returned to the engine, kept in the state
and given back on the next sync, so a rerun overwrites the same computed ranges and never
appends a duplicate. A write refused because the sheet changed under the worker (a tab
deleted by someone) reads the layout (``spreadsheets.get``, ``values.get``) and writes again.

Values are written with ``valueInputOption=RAW``: a participant who calls themselves
``=IMPORTXML(...)`` stays text, never a formula. Counts are sent as JSON numbers.
"""
from __future__ import annotations

import logging
import zlib
from datetime import datetime
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from integrations.google_auth import SHEETS_SERVICE, execute
from worker.crashpoint import crashpoint
from worker.core import terms
from worker.errors import RemoteError
from worker.core.model import Attendee, SummaryRow

log = logging.getLogger(__name__)

SESSION_HEADER = list(terms.SESSION_COLUMNS)  # session tab (the words are worker.core.terms', shared with the report)
# The summary's first six columns are as before; registration's counts come after, so older rows keep their place.
SUMMARY_HEADER = list(terms.SUMMARY_COLUMNS)  # summary tab
YES, NO = "ya", "tidak"  # the "Teridentifikasi" column
ROLE_AUDIENCE, ROLE_STAFF = "peserta", "staf"  # the "Peran" column: staff are shown but not counted
CHART_TITLE = "Kehadiran per minggu"  # title of the attendance chart on the summary tab
ATTENDED_COLUMN = 4  # 0-based column of "Hadir" on the summary tab
META_FIELDS = "sheets.properties,sheets.charts"  # what spreadsheets.get returns: tabs and their charts


def quote_tab(title: str) -> str:
    """A tab title as an A1 sheet reference: ``'2027-01-14'``, with inner quotes doubled."""
    return "'" + title.replace("'", "''") + "'"


def sheet_id_for(title: str, taken: set[int]) -> int:
    """A stable sheet id for a new tab, derived from its title and not among ``taken``."""
    candidate = zlib.crc32(title.encode("utf-8")) & 0x7FFFFFFF
    while candidate in taken or candidate == 0:
        candidate = (candidate + 1) & 0x7FFFFFFF
    return candidate


def add_sheet_request(title: str, sheet_id: int) -> dict[str, Any]:
    """An ``addSheet`` request for a tab with a frozen header row."""
    return {"addSheet": {"properties": {"sheetId": sheet_id, "title": title,
                                        "gridProperties": {"frozenRowCount": 1}}}}


def add_chart_request(summary_sheet_id: int) -> dict[str, Any]:
    """An ``addChart`` request: a column chart of "Hadir" per date on the summary tab."""
    def column(index: int) -> dict[str, Any]:
        # No endRowIndex: the range runs to the bottom, so new weeks join the chart by themselves.
        return {"sourceRange": {"sources": [{"sheetId": summary_sheet_id, "startRowIndex": 0,
                                             "startColumnIndex": index, "endColumnIndex": index + 1}]}}

    return {"addChart": {"chart": {
        "spec": {
            "title": CHART_TITLE,
            "basicChart": {
                "chartType": "COLUMN",
                "legendPosition": "NO_LEGEND",
                "headerCount": 1,
                "axis": [{"position": "BOTTOM_AXIS", "title": SUMMARY_HEADER[0]},
                         {"position": "LEFT_AXIS", "title": SUMMARY_HEADER[ATTENDED_COLUMN]}],
                "domains": [{"domain": column(0)}],
                "series": [{"series": column(ATTENDED_COLUMN), "targetAxis": "LEFT_AXIS"}],
            },
        },
        "position": {"overlayPosition": {"anchorCell": {"sheetId": summary_sheet_id, "rowIndex": 1,
                                                        "columnIndex": len(SUMMARY_HEADER) + 1}}},
    }}}


def column_letter(count: int) -> str:
    """The letter of the ``count``-th column (1 = A); the tabs here stay below 27 columns."""
    return chr(ord("A") + count - 1)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


class GoogleSheets:
    """The :class:`worker.core.ports.AttendanceSheet` on one spreadsheet, plus ``read_range`` for recipient lists."""

    def __init__(self, service: Any, spreadsheet_id: str, *, summary_tab: str = "Ringkasan",
                 service_account_email: str = "", key_file: str = "", num_retries: int = 5, timezone: str = "UTC",
                 sleep: Callable[[float], None] | None = None):
        self.service = service  # built by integrations.google_auth.build_sheets_service
        self.spreadsheet_id = spreadsheet_id  # the id in the spreadsheet's URL
        self.summary_tab = summary_tab  # title of the season summary tab
        self.service_account_email = service_account_email  # named in "share the spreadsheet" messages
        self.key_file = key_file  # named in "key refused" messages
        self.num_retries = num_retries  # library retries (5xx, 429, rate-limit 403) per call; 0 in unit tests
        self.zone = ZoneInfo(timezone)  # join and leave times are written in this zone
        self.sleep = sleep  # backoff sleep; None = time.sleep

    def _book(self) -> Any:
        """The ``spreadsheets`` collection (built once by the service: google_auth.SharedResource)."""
        return self.service.spreadsheets()

    def _values_api(self) -> Any:
        """The ``spreadsheets.values`` collection (built once, as :meth:`_book`)."""
        return self._book().values()

    def _run(self, request: Any) -> Any:
        extra = {"sleep": self.sleep} if self.sleep is not None else {}
        return execute(request, SHEETS_SERVICE, num_retries=self.num_retries, share_with=self.service_account_email,
                       target=f"spreadsheet {self.spreadsheet_id}", key_file=self.key_file, **extra)

    def prove_edit(self) -> str:
        """Make an edit that changes nothing (the title set to itself) and return the title (``doctor``).

        A spreadsheet shared read-only answers 403 PERMISSION_DENIED to the batchUpdate, raised as the
        usual "share the spreadsheet" error."""
        meta = self._run(self._book().get(spreadsheetId=self.spreadsheet_id, fields="properties.title"))
        title = str((meta or {}).get("properties", {}).get("title", ""))
        body = {"requests": [{"updateSpreadsheetProperties": {"properties": {"title": title}, "fields": "title"}}]}
        self._run(self._book().batchUpdate(spreadsheetId=self.spreadsheet_id, body=body))
        return title

    # -- reads ---------------------------------------------------------------------------------------------
    def read_range(self, a1: str) -> list[list[str]]:
        """The cells of ``a1`` (e.g. ``'Peserta'!A2:C``) as text, row by row."""
        return [["" if cell is None else str(cell) for cell in row] for row in self._values(a1)]

    def _tabs(self) -> dict[str, dict[str, Any]]:
        """Title -> {"id": sheetId, "charts": number of charts on it} for every tab."""
        meta = self._run(self._book().get(spreadsheetId=self.spreadsheet_id, fields=META_FIELDS))
        tabs = {}
        for sheet in (meta or {}).get("sheets", []):
            props = sheet.get("properties", {})
            tabs[props.get("title", "")] = {"id": int(props.get("sheetId", 0)),
                                            "charts": len(sheet.get("charts") or [])}
        return tabs

    def _existing(self, tab_title: str, tabs: dict[str, dict[str, Any]]) -> tuple[int, list[str]]:
        """Rows now on the session tab and column A of the summary tab (``values.get`` of tabs that exist)."""
        session_rows = len(self._values(f"{quote_tab(tab_title)}!A:{column_letter(len(SESSION_HEADER))}")) if tab_title in tabs else 0
        column_a: list[str] = []
        if self.summary_tab in tabs:
            column_a = ["" if not row or row[0] is None else str(row[0])
                        for row in self._values(f"{quote_tab(self.summary_tab)}!A:A")]
        return session_rows, column_a

    def _values(self, a1: str) -> list[list[Any]]:
        result = self._run(self._values_api().get(spreadsheetId=self.spreadsheet_id, range=a1,
                                                                    majorDimension="ROWS"))
        return (result or {}).get("values") or []

    # -- the sync ------------------------------------------------------------------------------------------
    @property
    def layout_key(self) -> str:
        """The key the engine keeps this spreadsheet's layout under: spreadsheet id and summary tab."""
        return f"{self.spreadsheet_id}|{self.summary_tab}"

    def sync_session(self, tab_title: str, attendees: Sequence[Attendee], summary: SummaryRow,
                     layout: dict[str, Any] | None = None) -> dict[str, Any]:
        """Overwrite the session's tab and upsert its summary row; return the layout to keep for the next sync.

        With ``layout`` (what the last sync returned) a sync is its writes only: ``spreadsheets.batchUpdate``
        when a tab or the chart is missing, then one ``values.batchUpdate``. Without one, the spreadsheet is
        taken as new (the worker's own tabs missing) and written blind. Either way, a write that Google
        refuses with 400 (the spreadsheet is not as remembered: a tab deleted or made by someone, a name or
        id taken) makes the client read the layout (``spreadsheets.get`` and ``values.get``) and write again.
        Nothing half-done is left by a refused ``spreadsheets.batchUpdate``: "if any request is not valid
        then the entire request will fail and nothing will be applied"
        (https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets/batchUpdate).
        """
        if tab_title == self.summary_tab:
            raise ValueError(f"session tab {tab_title!r} would overwrite the summary tab")
        known = self._usable(layout)
        if known is not None:
            try:
                return self._write(tab_title, attendees, summary, known)
            except RemoteError as exc:
                if exc.status != 400:
                    raise
                log.info("the spreadsheet is not as the last sync left it (%s); reading its tabs again", exc)
        return self._write(tab_title, attendees, summary, self._read_layout(tab_title))

    def _usable(self, layout: dict[str, Any] | None) -> dict[str, Any] | None:
        """A copy of ``layout`` if it is this spreadsheet's; a blank one before the first sync; None when
        the spreadsheet or summary tab changed (then the layout is read)."""
        if layout is None:
            return self._blank_layout()
        if layout.get("key") != self.layout_key or not isinstance(layout.get("tabs"), dict):
            return None
        return {"key": self.layout_key, "tabs": dict(layout["tabs"]), "chart": bool(layout.get("chart")),
                "rows": dict(layout.get("rows") or {}), "summary": dict(layout.get("summary") or {}),
                "summary_rows": int(layout.get("summary_rows") or 1)}

    def _blank_layout(self) -> dict[str, Any]:
        """A spreadsheet without the worker's tabs: what a first sync expects."""
        return {"key": self.layout_key, "tabs": {}, "chart": False, "rows": {}, "summary": {}, "summary_rows": 1}

    def _read_layout(self, tab_title: str) -> dict[str, Any]:
        """The layout as the spreadsheet has it now (one ``spreadsheets.get``, a ``values.get`` per worker tab)."""
        tabs = self._tabs()
        previous_rows, column_a = self._existing(tab_title, tabs)
        layout = self._blank_layout()
        layout["tabs"] = {title: t["id"] for title, t in tabs.items()}
        layout["chart"] = tabs.get(self.summary_tab, {}).get("charts", 0) > 0
        layout["rows"] = {tab_title: previous_rows}
        for i, value in enumerate(column_a):
            if i > 0 and value.strip():
                layout["summary"].setdefault(value.strip(), i)  # a date listed twice: the first row, as before
        layout["summary_rows"] = max(len(column_a), 1)
        return layout

    def _write(self, tab_title: str, attendees: Sequence[Attendee], summary: SummaryRow,
               layout: dict[str, Any]) -> dict[str, Any]:
        """The sync's (at most) two writes against ``layout``; returns the layout they leave."""
        tabs = {title: {"id": sheet_id, "charts": 1 if layout["chart"] and title == self.summary_tab else 0}
                for title, sheet_id in layout["tabs"].items()}
        requests = self._structure_requests(tab_title, tabs)
        if requests:
            self._run(self._book().batchUpdate(spreadsheetId=self.spreadsheet_id,
                                                              body={"requests": requests}))
            for request in requests:
                if "addSheet" in request:
                    props = request["addSheet"]["properties"]
                    layout["tabs"][props["title"]] = props["sheetId"]
                    layout["rows"][props["title"]] = 0
            layout["chart"] = True
        crashpoint("sheets.between_writes")
        key = summary.date.isoformat()
        index = layout["summary"].get(key)
        if index is None:
            index = max(int(layout["summary_rows"]), 1)  # the first free row below the header
        rows = self.session_rows(attendees)
        data = (self._session_ranges(tab_title, attendees, int(layout["rows"].get(tab_title, 0)))
                + self._summary_ranges(summary, index))
        self._run(self._values_api().batchUpdate(
            spreadsheetId=self.spreadsheet_id, body={"valueInputOption": "RAW", "data": data}))
        layout["rows"][tab_title] = max(len(rows), 1)
        layout["summary"][key] = index
        layout["summary_rows"] = max(int(layout["summary_rows"]), index + 1)
        log.info("attendance of %s written to the spreadsheet (%d attendee(s))", tab_title, len(attendees))
        return layout

    def write_verification(self, tab_title: str, rows: list[list[Any]]) -> None:
        """Overwrite the certificate verification tab ("Verifikasi") with ``rows``, header first.

        Number, name, topic, date, JP, status: never an e-mail. Like a session tab: add the tab
        when missing (``spreadsheets.batchUpdate``), then one ``values.batchUpdate`` of a
        computed range with ``valueInputOption=RAW`` (a name such as ``=IMPORTXML(...)`` stays
        text), blanking rows left over from a longer list. See
        https://developers.google.com/workspace/sheets/api/reference/rest/v4/spreadsheets.values/batchUpdate
        (a ValueInputOption is required) and .../rest/v4/ValueInputOption (RAW: stored as typed).
        """
        if tab_title == self.summary_tab:
            raise ValueError(f"verification tab {tab_title!r} would overwrite the summary tab")
        tabs = self._tabs()
        width = len(rows[0]) if rows else 1
        last = chr(ord("A") + width - 1)
        previous = len(self._values(f"{quote_tab(tab_title)}!A:{last}")) if tab_title in tabs else 0
        if tab_title not in tabs:
            request = add_sheet_request(tab_title, sheet_id_for(tab_title, {t["id"] for t in tabs.values()}))
            self._run(self._book().batchUpdate(spreadsheetId=self.spreadsheet_id,
                                                              body={"requests": [request]}))
        values = [list(r) for r in rows] + [[""] * width for _ in range(max(0, previous - len(rows)))]
        data = [{"range": f"{quote_tab(tab_title)}!A1:{last}{len(values)}", "majorDimension": "ROWS",
                 "values": values}]
        self._run(self._values_api().batchUpdate(
            spreadsheetId=self.spreadsheet_id, body={"valueInputOption": "RAW", "data": data}))
        log.info("%s tab written (%d certificate(s))", tab_title, len(rows) - 1)

    def _structure_requests(self, tab_title: str, tabs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """addSheet for missing tabs and addChart when the summary tab has no chart yet."""
        taken = {t["id"] for t in tabs.values()}
        requests: list[dict[str, Any]] = []
        for title in (tab_title, self.summary_tab):
            if title not in tabs:
                new_id = sheet_id_for(title, taken)
                taken.add(new_id)
                tabs = {**tabs, title: {"id": new_id, "charts": 0}}
                requests.append(add_sheet_request(title, new_id))
        if tabs[self.summary_tab]["charts"] == 0:
            requests.append(add_chart_request(tabs[self.summary_tab]["id"]))
        return requests

    def _time(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def session_rows(self, attendees: Sequence[Attendee]) -> list[list[Any]]:
        """Header plus one row per attendee, longest stay first."""
        ordered = sorted(attendees, key=lambda a: (-a.minutes, a.name.casefold(), a.email))
        return [list(SESSION_HEADER)] + [
            [a.registered_name, a.name, a.email, self._time(a.first_join), self._time(a.last_leave), int(a.minutes),
             int(a.joins), YES if a.identified else NO, ROLE_STAFF if a.staff else ROLE_AUDIENCE]
            for a in ordered]

    def _session_ranges(self, tab_title: str, attendees: Sequence[Attendee], previous_rows: int) -> list[dict]:
        rows = self.session_rows(attendees)
        blank = [""] * len(SESSION_HEADER)
        rows += [list(blank) for _ in range(max(0, previous_rows - len(rows)))]  # clear a longer old list
        last = column_letter(len(SESSION_HEADER))
        return [{"range": f"{quote_tab(tab_title)}!A1:{last}{len(rows)}", "majorDimension": "ROWS", "values": rows}]

    def _summary_ranges(self, summary: SummaryRow, index: int) -> list[dict]:
        """The header and this date's row (0-based ``index`` on the summary tab)."""
        key = summary.date.isoformat()
        row = [key, summary.topic, summary.speaker, int(summary.invited), int(summary.attended),
               _number(round(summary.average_minutes, 1)), int(summary.registered), int(summary.identified),
               int(summary.guests)]
        tab, last = quote_tab(self.summary_tab), column_letter(len(SUMMARY_HEADER))
        return [{"range": f"{tab}!A1:{last}1", "majorDimension": "ROWS", "values": [list(SUMMARY_HEADER)]},
                {"range": f"{tab}!A{index + 1}:{last}{index + 1}", "majorDimension": "ROWS", "values": [row]}]
