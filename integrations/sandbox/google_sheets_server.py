"""The Google emulator's Sheets v4: spreadsheets shared with the service account, their tabs, values and charts.

Served: ``spreadsheets.get``, ``spreadsheets.batchUpdate`` (``addSheet`` and ``addChart`` requests),
``values.get`` and ``values.batchUpdate`` under ``ROOT/v4/spreadsheets/{spreadsheetId}``
(https://developers.google.com/sheets/api/reference/rest), which is what integrations/google_sheets.py
calls. A batch is all or nothing, like Google's.

Known simplifications: formulas are never computed (a formula cell reads back as ``#N/A`` in
FORMATTED_VALUE/UNFORMATTED_VALUE and as its text in FORMULA); USER_ENTERED parses numbers, booleans,
a leading apostrophe and formulas, not dates or currencies.
"""
from __future__ import annotations

import copy
import csv
import html
import itertools
import json
import random
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integrations.sandbox.google_a1 import A1Range, column_letters, format_a1, parse_a1
from integrations.sandbox.google_common import ApiError, Route, Service, require_object
from integrations.sandbox.google_token import Token

SHEETS_SCOPES = frozenset({"https://www.googleapis.com/auth/spreadsheets",
                           "https://www.googleapis.com/auth/drive",
                           "https://www.googleapis.com/auth/drive.file"})  # scopes that may write sheets
SHEETS_READ_SCOPES = SHEETS_SCOPES | {"https://www.googleapis.com/auth/spreadsheets.readonly",
                                      "https://www.googleapis.com/auth/drive.readonly"}  # scopes that may read
FORMULA_PLACEHOLDER = "#N/A"  # what a formula cell reads back as: the emulator does not compute formulas
_SUPPORTED_REQUESTS = ("addSheet", "addChart", "updateSpreadsheetProperties")  # batchUpdate request kinds served
_BOOK = r"/v4/spreadsheets/([^/:]+)"  # path of one spreadsheet


@dataclass
class _Sheet:
    sheet_id: int  # stable numeric id
    title: str  # tab name
    index: int  # position among the tabs
    row_count: int = 1000  # grid size, as Google's default new sheet
    column_count: int = 26
    sheet_type: str = "GRID"  # "OBJECT" for a sheet holding only a chart
    cells: dict[tuple[int, int], Any] = field(default_factory=dict)  # (row, col) -> str | int | float | bool
    formulas: set[tuple[int, int]] = field(default_factory=set)  # cells whose text was entered as a formula
    charts: list[dict[str, Any]] = field(default_factory=list)  # embedded charts: {chartId, spec, position}
    extra: dict[str, Any] = field(default_factory=dict)  # other properties set by clients (tabColor, hidden...)
    extra_grid: dict[str, Any] = field(default_factory=dict)  # other gridProperties (frozenRowCount...)

    def properties(self) -> dict[str, Any]:
        """The sheet's ``properties`` object as Sheets returns it."""
        props: dict[str, Any] = {"sheetId": self.sheet_id, "title": self.title, "index": self.index,
                                 "sheetType": self.sheet_type, **self.extra}
        if self.sheet_type == "GRID":
            props["gridProperties"] = {"rowCount": self.row_count, "columnCount": self.column_count,
                                       **self.extra_grid}
        return props

    def used_rows(self) -> list[list[Any]]:
        """Stored values from A1 to the last non-empty cell, rows trimmed of trailing empties."""
        if not self.cells:
            return []
        height = max(r for r, _ in self.cells) + 1
        rows: list[list[Any]] = []
        for r in range(height):
            cols = [c for (rr, c) in self.cells if rr == r]
            width = max(cols) + 1 if cols else 0
            rows.append([self.cells.get((r, c), "") for c in range(width)])
        return rows


@dataclass
class _Spreadsheet:
    spreadsheet_id: str  # as used in URLs
    title: str  # document title
    sheets: list[_Sheet] = field(default_factory=list)  # tabs, kept sorted by index
    shared_with: set[str] = field(default_factory=set)  # service accounts with edit access
    readers: set[str] = field(default_factory=set)  # service accounts that may only read ("Viewer")

    def sheet_by_title(self, title: str) -> _Sheet | None:
        """The tab with this title, or None."""
        return next((s for s in self.sheets if s.title == title), None)

    def sheet_by_id(self, sheet_id: int) -> _Sheet | None:
        """The tab with this sheetId, or None."""
        return next((s for s in self.sheets if s.sheet_id == sheet_id), None)

    def reindex(self) -> None:
        """Keep tabs sorted and their ``index`` values 0..n-1."""
        self.sheets.sort(key=lambda s: s.index)
        for i, sheet in enumerate(self.sheets):
            sheet.index = i



class SheetsService(Service):
    """Sheets v4: the routes, plus set-up, introspection and exports for tests and the demo."""

    api = "sheets"
    routes = (Route("GET", re.compile(_BOOK), "spreadsheets.get"),
              Route("POST", re.compile(_BOOK + r":batchUpdate"), "spreadsheets.batchUpdate"),
              Route("POST", re.compile(_BOOK + r"/values:batchUpdate"), "values.batchUpdate"),
              Route("GET", re.compile(_BOOK + r"/values/(.+)"), "values.get"))
    write_routes = frozenset({"spreadsheets.batchUpdate", "values.batchUpdate"})

    def __init__(self, rng: random.Random, lock: threading.RLock):
        self._rng = rng  # spreadsheet, sheet and chart ids
        self._lock = lock  # the emulator's state lock, shared by all services
        self._spreadsheets: dict[str, _Spreadsheet] = {}  # spreadsheet id -> spreadsheet

    def scopes_for(self, route: str) -> frozenset[str]:
        """Writes need spreadsheets or drive; reads also take the read-only scopes."""
        return SHEETS_SCOPES if route in self.write_routes else SHEETS_READ_SCOPES

    # -- set-up -------------------------------------------------------------------------------------
    def create_spreadsheet(self, title: str, *, spreadsheet_id: str | None, sheet_titles: tuple[str, ...],
                           share_with: str | None) -> str:
        """Create a spreadsheet with these tabs (the first has sheetId 0), shared with ``share_with``."""
        with self._lock:
            if spreadsheet_id is None:
                alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                spreadsheet_id = "1" + "".join(self._rng.choice(alphabet) for _ in range(43))
            if spreadsheet_id in self._spreadsheets:
                raise ValueError(f"spreadsheet {spreadsheet_id!r} already exists")
            book = _Spreadsheet(spreadsheet_id, title)
            for i, sheet_title in enumerate(sheet_titles):
                book.sheets.append(_Sheet(0 if i == 0 else self._new_id(), sheet_title, i))
            if share_with:
                book.shared_with.add(share_with)
            self._spreadsheets[spreadsheet_id] = book
        return spreadsheet_id

    def share_spreadsheet(self, spreadsheet_id: str, title: str, email: str) -> str:
        """Create the spreadsheet if needed (one tab, "Sheet1") and give ``email`` edit access; return its id."""
        with self._lock:
            if spreadsheet_id not in self._spreadsheets:
                self.create_spreadsheet(title, spreadsheet_id=spreadsheet_id, sheet_titles=("Sheet1",),
                                        share_with=None)
            self._spreadsheets[spreadsheet_id].shared_with.add(email)
        return spreadsheet_id

    # -- what people do in the spreadsheet (not API calls: not counted) ------------------------------
    def delete_sheet(self, spreadsheet_id: str, title: str) -> None:
        """Delete a tab, charts and all, as someone does in the browser."""
        with self._lock:
            book = self._known_spreadsheet(spreadsheet_id)
            book.sheets.remove(self._known_sheet(spreadsheet_id, title))
            book.reindex()

    def set_values(self, spreadsheet_id: str, title: str, rows: list[list[Any]]) -> None:
        """Replace a tab's values from A1 (the tab is added when missing), as a Form or a person fills it."""
        with self._lock:
            book = self._known_spreadsheet(spreadsheet_id)
            sheet = book.sheet_by_title(title)
            if sheet is None:
                sheet = _Sheet(self._new_id(), title, len(book.sheets))
                book.sheets.append(sheet)
            sheet.cells = {(r, c): v for r, row in enumerate(rows) for c, v in enumerate(row) if v not in ("", None)}
            sheet.formulas = set()

    # -- introspection -------------------------------------------------------------------------------
    def sheet_titles(self, spreadsheet_id: str) -> list[str]:
        """Tab titles in order."""
        with self._lock:
            return [s.title for s in self._known_spreadsheet(spreadsheet_id).sheets]

    def sheet_id(self, spreadsheet_id: str, title: str) -> int:
        """The sheetId of the tab called ``title``."""
        with self._lock:
            return self._known_sheet(spreadsheet_id, title).sheet_id

    def sheet_values(self, spreadsheet_id: str, title: str) -> list[list[Any]]:
        """Stored values from A1 to the last used cell (formula cells give their text), "" for empty."""
        with self._lock:
            return self._known_sheet(spreadsheet_id, title).used_rows()

    def formula_cells(self, spreadsheet_id: str, title: str) -> list[str]:
        """A1 names of the cells entered as formulas (USER_ENTERED "=..." or formulaValue)."""
        with self._lock:
            sheet = self._known_sheet(spreadsheet_id, title)
            return [f"{column_letters(c)}{r + 1}" for r, c in sorted(sheet.formulas)]

    def charts(self, spreadsheet_id: str) -> list[dict[str, Any]]:
        """Copies of every embedded chart ({chartId, spec, position}), tab by tab."""
        with self._lock:
            book = self._known_spreadsheet(spreadsheet_id)
            return [copy.deepcopy(chart) for sheet in book.sheets for chart in sheet.charts]

    # -- exports -------------------------------------------------------------------------------------
    def export_csv(self, spreadsheet_id: str, out_dir: str | Path) -> list[Path]:
        """Write one UTF-8 CSV per grid tab into ``out_dir``; return the paths in tab order."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with self._lock:
            tabs = [(s.title, s.used_rows()) for s in self._known_spreadsheet(spreadsheet_id).sheets
                    if s.sheet_type == "GRID"]
        paths: list[Path] = []
        used: set[str] = set()
        for i, (title, rows) in enumerate(tabs):
            name = re.sub(r"[^\w.-]+", "_", title).strip("._") or "sheet"
            if name.lower() in used:
                name = f"{name}-{i + 1}"
            used.add(name.lower())
            path = out / f"{name}.csv"
            with path.open("w", encoding="utf-8", newline="") as handle:
                csv.writer(handle).writerows([[_display(v) for v in row] for row in rows])
            paths.append(path)
        return paths

    def export_html(self, spreadsheet_id: str, path: str | Path) -> Path:
        """Write one HTML page with a table per tab (all text escaped, formulas shown as text)."""
        with self._lock:
            book = self._known_spreadsheet(spreadsheet_id)
            title = book.title
            tabs = [(s.title, s.used_rows(), set(s.formulas), copy.deepcopy(s.charts)) for s in book.sheets]
        esc = html.escape
        parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                 f"<title>{esc(title)}</title>",
                 "<style>body{font-family:sans-serif}table{border-collapse:collapse;margin-bottom:2em}"
                 "td,th{border:1px solid #999;padding:2px 6px;text-align:left}.formula{color:#06c}</style>",
                 "</head>", "<body>", f"<h1>{esc(title)}</h1>"]
        for tab, rows, formulas, charts in tabs:
            parts.append(f"<h2>{esc(tab)}</h2>")
            if rows:
                parts.append("<table>")
                for r, row in enumerate(rows):
                    tag = "th" if r == 0 else "td"
                    cells = []
                    for c, value in enumerate(row):
                        attr = ' class="formula"' if (r, c) in formulas else ""
                        cells.append(f"<{tag}{attr}>{esc(_display(value))}</{tag}>")
                    parts.append("<tr>" + "".join(cells) + "</tr>")
                parts.append("</table>")
            for chart in charts:
                spec = chart.get("spec", {})
                kind = spec.get("basicChart", {}).get("chartType") or next(iter(spec.keys() - {"title"}), "chart")
                parts.append(f"<p>Chart {chart['chartId']}: {esc(str(spec.get('title', '')))} ({esc(str(kind))})</p>")
        parts += ["</body>", "</html>", ""]
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(parts), encoding="utf-8")
        return out

    # -- the routes ------------------------------------------------------------------------------------
    def _spreadsheet(self, grant: Token, spreadsheet_id: str, write: bool = False) -> _Spreadsheet:
        book = self._spreadsheets.get(spreadsheet_id)
        if book is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        if grant.email not in book.shared_with and (write or grant.email not in book.readers):
            raise ApiError(403, "The caller does not have permission", "forbidden")
        return book

    def make_read_only(self, spreadsheet_id: str, email: str) -> None:
        """Share the spreadsheet with ``email`` as a Viewer only: reads work, every write answers 403.

        Google answers a write by a Viewer with 403 PERMISSION_DENIED "The caller does not have permission"
        (https://developers.google.com/sheets/api/limits and https://cloud.google.com/apis/design/errors#handling_errors).
        """
        with self._lock:
            book = self._spreadsheets[spreadsheet_id]
            book.shared_with.discard(email)
            book.readers.add(email)

    def _resource(self, book: _Spreadsheet) -> dict[str, Any]:
        sheets = []
        for sheet in book.sheets:
            entry: dict[str, Any] = {"properties": sheet.properties()}
            if sheet.charts:
                entry["charts"] = copy.deepcopy(sheet.charts)
            sheets.append(entry)
        return {"spreadsheetId": book.spreadsheet_id,
                "properties": {"title": book.title, "locale": "en_US", "autoRecalc": "ON_CHANGE",
                               "timeZone": "Etc/GMT"},
                "sheets": sheets,
                "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit"}

    def _spreadsheets_get(self, grant: Token, query: dict, body: Any, spreadsheet_id: str) -> tuple[int, Any]:
        return 200, self._resource(self._spreadsheet(grant, spreadsheet_id))

    def _resolve(self, book: _Spreadsheet, text: str) -> tuple[_Sheet, A1Range]:
        try:
            a1 = parse_a1(text, [s.title for s in book.sheets])
        except ValueError:
            raise ApiError(400, f"Unable to parse range: {text}") from None
        sheet = book.sheet_by_title(a1.title) if a1.title is not None else book.sheets[0]
        if sheet is None or sheet.sheet_type != "GRID":
            raise ApiError(400, f"Unable to parse range: {text}")
        return sheet, a1

    def _read(self, book: _Spreadsheet, text: str, query: dict) -> dict[str, Any]:
        sheet, a1 = self._resolve(book, text)
        row1 = min(a1.row1 if a1.row1 is not None else sheet.row_count, sheet.row_count)
        col1 = min(a1.col1 if a1.col1 is not None else sheet.column_count, sheet.column_count)
        row0, col0 = min(a1.row0, row1 - 1), min(a1.col0, col1 - 1)
        render = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        rows = []
        for r in range(row0, row1):
            row = [_render(sheet, (r, c), render) for c in range(col0, col1)]
            while row and row[-1] == "":
                row.pop()
            rows.append(row)
        while rows and not rows[-1]:
            rows.pop()
        major = query.get("majorDimension", ["ROWS"])[0]
        if major == "COLUMNS" and rows:
            rows = [list(col) for col in itertools.zip_longest(*rows, fillvalue="")]
            for col in rows:
                while col and col[-1] == "":
                    col.pop()
            while rows and not rows[-1]:
                rows.pop()
        result: dict[str, Any] = {"range": format_a1(sheet.title, row0, col0, row1, col1),
                                  "majorDimension": "COLUMNS" if major == "COLUMNS" else "ROWS"}
        if rows:
            result["values"] = rows
        return result

    def _values_get(self, grant: Token, query: dict, body: Any, spreadsheet_id: str,
                    range_text: str) -> tuple[int, Any]:
        return 200, self._read(self._spreadsheet(grant, spreadsheet_id), range_text, query)

    def _write(self, book: _Spreadsheet, text: str, values: Any, option: str, major: str = "ROWS") -> dict[str, Any]:
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, f"Invalid valueInputOption: {option or 'INPUT_VALUE_OPTION_UNSPECIFIED'}")
        sheet, a1 = self._resolve(book, text)
        if a1.row0 >= sheet.row_count or a1.col0 >= sheet.column_count:
            raise ApiError(400, f"Range ({text}) exceeds grid limits. Max rows: {sheet.row_count}, "
                                f"max columns: {sheet.column_count}")
        rows = _check_values(values)
        if major == "COLUMNS":
            rows = [list(r) for r in itertools.zip_longest(*rows, fillvalue=None)]
        height = len(rows)
        width = max((len(r) for r in rows), default=0)
        if not a1.single:
            if a1.row1 is not None and a1.row0 + height > a1.row1:
                raise ApiError(400, f"Requested writing within range [{text}], but tried writing to row "
                                    f"[{a1.row0 + height}]")
            if a1.col1 is not None and a1.col0 + width > a1.col1:
                raise ApiError(400, f"Requested writing within range [{text}], but tried writing to column "
                                    f"[{column_letters(a1.col0 + width - 1)}]")
        sheet.row_count = max(sheet.row_count, a1.row0 + height)  # writing past the grid adds rows/columns
        sheet.column_count = max(sheet.column_count, a1.col0 + width)
        cells = 0
        written_rows = 0
        for i, row in enumerate(rows):
            touched = False
            for j, value in enumerate(row):
                if value is None:  # Google: null means "leave this cell alone"
                    continue
                _set_cell(sheet, (a1.row0 + i, a1.col0 + j), value, option == "USER_ENTERED")
                cells += 1
                touched = True
            written_rows += touched
        result: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
        if height and width:
            result["updatedRange"] = format_a1(sheet.title, a1.row0, a1.col0, a1.row0 + height, a1.col0 + width)
        else:
            result["updatedRange"] = format_a1(sheet.title, a1.row0, a1.col0, a1.row0 + 1, a1.col0 + 1)
        if cells:
            result.update(updatedRows=written_rows, updatedColumns=width, updatedCells=cells)
        return result

    def _values_batchUpdate(self, grant: Token, query: dict, body: Any, spreadsheet_id: str) -> tuple[int, Any]:
        book = self._spreadsheet(grant, spreadsheet_id, write=True)
        body = require_object(body)
        option = body.get("valueInputOption", "")
        snapshot = copy.deepcopy(book.sheets)
        try:
            responses = [self._write(book, require_object(item).get("range", ""), item.get("values", []), option,
                                     item.get("majorDimension", "ROWS")) for item in body.get("data", [])]
        except ApiError:
            book.sheets = snapshot  # all or nothing, like Google
            raise
        titles = {r["updatedRange"].rsplit("!", 1)[0] for r in responses if "updatedCells" in r}
        result: dict[str, Any] = {"spreadsheetId": spreadsheet_id}
        totals = {"totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
                  "totalUpdatedColumns": sum(r.get("updatedColumns", 0) for r in responses),
                  "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
                  "totalUpdatedSheets": len(titles)}
        result.update({k: v for k, v in totals.items() if v})
        result["responses"] = responses
        return 200, result

    def _spreadsheets_batchUpdate(self, grant: Token, query: dict, body: Any,
                                  spreadsheet_id: str) -> tuple[int, Any]:
        book = self._spreadsheet(grant, spreadsheet_id, write=True)
        body = require_object(body)
        requests = body.get("requests", [])
        if not isinstance(requests, list) or not requests:
            raise ApiError(400, "Must specify at least one request.")
        snapshot = copy.deepcopy(book.sheets)
        replies = []
        try:
            for i, request in enumerate(requests):
                if not isinstance(request, dict) or len(request) != 1:
                    raise ApiError(400, f"Invalid requests[{i}]: exactly one kind of request must be set")
                (kind, params), = request.items()
                handler = getattr(self, f"_request_{kind}", None)
                if handler is None:
                    raise ApiError(400, f"Invalid requests[{i}]: the emulator does not support {kind!r} "
                                        f"(supported: {', '.join(_SUPPORTED_REQUESTS)})")
                try:
                    replies.append(handler(book, require_object(params)))
                except ApiError as err:
                    err.message = f"Invalid requests[{i}].{kind}: {err.message}"
                    raise
        except ApiError as err:
            book.sheets = snapshot  # a failed batch changes nothing, like Google
            raise ApiError(err.code, err.message, err.reason) from None
        result: dict[str, Any] = {"spreadsheetId": spreadsheet_id, "replies": replies}
        if body.get("includeSpreadsheetInResponse"):
            result["updatedSpreadsheet"] = self._resource(book)
        return 200, result

    # each _request_<kind> applies one batchUpdate request and returns its reply ({} when Google sends none)
    def _request_updateSpreadsheetProperties(self, book: _Spreadsheet, params: dict[str, Any]) -> dict[str, Any]:
        """Only ``title`` is emulated; ``fields`` must name what is set, as Google requires
        (https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets/request#UpdateSpreadsheetPropertiesRequest)."""
        fields = str(params.get("fields", ""))
        if not fields:
            raise ApiError(400, "At least one field must be updated, but 'fields' is empty.")
        if fields != "title":
            raise ApiError(400, f"the emulator only updates the title (got fields {fields!r})")
        title = params.get("properties", {}).get("title")
        if not isinstance(title, str) or not title:
            raise ApiError(400, "Invalid value for title")
        book.title = title
        return {}

    def _request_addSheet(self, book: _Spreadsheet, params: dict[str, Any]) -> dict[str, Any]:
        props = dict(params.get("properties", {}))
        title = props.pop("title", None)
        if title is None:
            n = len(book.sheets) + 1
            while book.sheet_by_title(f"Sheet{n}"):
                n += 1
            title = f"Sheet{n}"
        if book.sheet_by_title(title):
            raise ApiError(400, f'A sheet with the name "{title}" already exists. Please enter another name.')
        sheet_id = props.pop("sheetId", None)
        if sheet_id is None:
            sheet_id = self._new_id()
        elif book.sheet_by_id(sheet_id):
            raise ApiError(400, f"A sheet with the id {sheet_id} already exists.")
        index = props.pop("index", len(book.sheets))
        grid = dict(props.pop("gridProperties", {}))
        props.pop("sheetType", None)
        sheet = _Sheet(sheet_id, title, index, grid.pop("rowCount", 1000), grid.pop("columnCount", 26),
                       extra=props, extra_grid=grid)
        for other in book.sheets:
            if other.index >= index:
                other.index += 1
        book.sheets.append(sheet)
        book.reindex()
        return {"addSheet": {"properties": sheet.properties()}}

    def _request_addChart(self, book: _Spreadsheet, params: dict[str, Any]) -> dict[str, Any]:
        chart = copy.deepcopy(params.get("chart"))
        if not isinstance(chart, dict) or "spec" not in chart:
            raise ApiError(400, "chart.spec is required")
        self._check_sources(book, chart["spec"])
        chart_id = chart.get("chartId")
        existing = {c["chartId"] for s in book.sheets for c in s.charts}
        if chart_id is None:
            chart_id = self._new_id()
        elif chart_id in existing:
            raise ApiError(400, f"An object with the id {chart_id} already exists.")
        chart["chartId"] = chart_id
        position = chart.setdefault("position", {"newSheet": True})
        host_id = position.get("sheetId", position.get("overlayPosition", {}).get("anchorCell", {}).get("sheetId"))
        if position.get("newSheet"):
            n = 1
            while book.sheet_by_title(f"Chart{n}"):
                n += 1
            host = _Sheet(self._new_id(), f"Chart{n}", len(book.sheets), sheet_type="OBJECT")
            book.sheets.append(host)
            chart["position"] = {"sheetId": host.sheet_id}
        else:
            host = self._grid(book, host_id)
        host.charts.append(chart)
        return {"addChart": {"chart": copy.deepcopy(chart)}}

    def _grid(self, book: _Spreadsheet, sheet_id: Any) -> _Sheet:
        sheet = book.sheet_by_id(sheet_id) if isinstance(sheet_id, int) else None
        if sheet is None:
            raise ApiError(400, f"No grid with id: {sheet_id}")
        return sheet

    def _check_sources(self, book: _Spreadsheet, value: Any) -> None:
        """Every GridRange in a chart spec's ``sources`` must name an existing sheet."""
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "sources" and isinstance(item, list):
                    for grid_range in item:
                        self._grid(book, grid_range.get("sheetId", 0) if isinstance(grid_range, dict) else None)
                else:
                    self._check_sources(book, item)
        elif isinstance(value, list):
            for item in value:
                self._check_sources(book, item)

    # -- small helpers ---------------------------------------------------------------------------------
    def _new_id(self) -> int:
        return self._rng.randrange(1, 2 ** 31 - 1)

    def _known_spreadsheet(self, spreadsheet_id: str) -> _Spreadsheet:
        if spreadsheet_id not in self._spreadsheets:
            raise KeyError(f"no spreadsheet {spreadsheet_id!r} (known: {', '.join(self._spreadsheets) or 'none'})")
        return self._spreadsheets[spreadsheet_id]

    def _known_sheet(self, spreadsheet_id: str, title: str) -> _Sheet:
        book = self._known_spreadsheet(spreadsheet_id)
        sheet = book.sheet_by_title(title)
        if sheet is None:
            raise KeyError(f"no tab {title!r} in {spreadsheet_id!r} (tabs: {', '.join(s.title for s in book.sheets)})")
        return sheet


def _check_values(values: Any) -> list[list[Any]]:
    if not isinstance(values, list) or not all(isinstance(row, list) for row in values):
        raise ApiError(400, "Invalid values: expected a list of rows (lists)")
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise ApiError(400, f"Invalid values[{i}][{j}]: {json.dumps(value)}")
    return values


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _set_cell(sheet: _Sheet, key: tuple[int, int], value: Any, user_entered: bool) -> None:
    sheet.formulas.discard(key)
    if value == "":
        sheet.cells.pop(key, None)
        return
    if user_entered and isinstance(value, str):  # what typing into the cell would do
        text = value.strip()
        if value.startswith("'"):
            value = value[1:]
        elif value.startswith("="):
            sheet.formulas.add(key)
        elif _NUMBER.fullmatch(text):
            number = float(text)
            value = int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", text) else number
        elif text.upper() in ("TRUE", "FALSE"):
            value = text.upper() == "TRUE"
    sheet.cells[key] = value


def _display(value: Any) -> str:
    """A stored value as a cell shows it."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _render(sheet: _Sheet, key: tuple[int, int], option: str) -> Any:
    if key not in sheet.cells:
        return ""
    value = sheet.cells[key]
    if key in sheet.formulas:
        return value if option == "FORMULA" else FORMULA_PLACEHOLDER
    if option == "FORMATTED_VALUE":
        return _display(value)
    return value
