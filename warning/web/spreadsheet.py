"""XLSX of the ledger's table (``warning.ledger.table``) through openpyxl: rows in, bytes out."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Mapping

from openpyxl import Workbook, load_workbook

from ..ledger import table

MAX_CELLS = 2_000_000  #: a workbook's first sheet is read up to this many cells


class SpreadsheetError(ValueError):
    pass


def read_xlsx(data: bytes) -> list[list]:
    """The first sheet's rows (values, not formulas)."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise SpreadsheetError(f"不是有效的 XLSX 文件 / not a readable XLSX file: {exc}") from None
    try:
        ws = wb.worksheets[0]
        rows, cells = [], 0
        for row in ws.iter_rows(values_only=True):
            cells += len(row)
            if cells > MAX_CELLS:
                raise SpreadsheetError(f"超过 {MAX_CELLS} 个单元格 / more than {MAX_CELLS} cells")
            rows.append(list(row))
        return rows
    finally:
        wb.close()


def write_xlsx(records: Iterable[Mapping]) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("台账 ledger")
    ws.append(table.header())
    for r in records:
        ws.append(table.row_of_record(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
