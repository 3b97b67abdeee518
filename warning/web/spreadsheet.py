"""XLSX of the ledger's table (``warning.ledger.table``) through openpyxl: rows in, bytes out."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Mapping

from openpyxl import Workbook, load_workbook

from ..i18n import Text
from ..ledger import table

MAX_CELLS = 2_000_000  #: a workbook's first sheet is read up to this many cells


class SpreadsheetError(ValueError):
    """An unreadable workbook: ``message`` is a catalogue text, rendered in the reader's locale."""

    def __init__(self, message: Text):
        super().__init__(str(message))
        self.message = message


def read_xlsx(data: bytes) -> list[list]:
    """The first sheet's rows (values, not formulas)."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise SpreadsheetError(Text.of("not a readable XLSX file: {error}", error=str(exc))) from None
    try:
        ws = wb.worksheets[0]
        rows, cells = [], 0
        for row in ws.iter_rows(values_only=True):
            cells += len(row)
            if cells > MAX_CELLS:
                raise SpreadsheetError(Text.of("more than {n} cells", n=MAX_CELLS))
            rows.append(list(row))
        return rows
    finally:
        wb.close()


def write_xlsx(records: Iterable[Mapping], sheet: str = "ledger") -> bytes:
    """The workbook of ``records``; ``sheet`` names its sheet (in the reader's language)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(table.header())
    for r in records:
        ws.append(table.row_of_record(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
