"""Files shaped like the exports users land, generated (nothing binary is committed).

Each :class:`Export` is the bytes of one file, what the sniffer must decide about it (the
dialect keys that matter) and the table it must become, value by value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EXPORTS", "Export", "write_exports"]


@dataclass(frozen=True)
class Export:
    name: str
    data: bytes
    sniffed: dict[str, Any]
    """The dialect keys the sniffer must decide so (the others: defaults)."""
    columns: list[str]
    rows: list[dict[str, Any]]
    types: dict[str, str] = field(default_factory=dict)
    """Column → Arrow type the table must have (only those listed are checked)."""


def _crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def _utf16le(text: str) -> bytes:
    return b"\xff\xfe" + text.encode("utf-16-le")


EUROPEAN = Export(
    name="umsatz_eu.csv",
    data=_crlf(
        "Umsatzbericht Q4 2025\n"
        "Stand: 31.12.2025\n"
        "Nr;Kunde;Betrag;Menge;Datum\n"
        "1;Müller GmbH;1.234,50;3;31.12.2025\n"
        "2;Zoë Dupré;-7,25;1.200;01.02.2025\n"
        '3;"Café ""Zur Post"""; 0,99 ;12;15.03.2025\n'
        "Summe;;1.228,24;;\n"
    ).encode("cp1252"),
    sniffed={
        "encoding": "windows-1252",
        "delimiter": ";",
        "skip_rows": 2,
        "header_rows": 1,
        "skip_footer": 1,
        "decimal": ",",
        "thousands": ".",
        "date_format": "%d.%m.%Y",
    },
    columns=["Nr", "Kunde", "Betrag", "Menge", "Datum"],
    rows=[
        {"Nr": 1, "Kunde": "Müller GmbH", "Betrag": 1234.5, "Menge": 3,
         "Datum": dt.date(2025, 12, 31)},
        {"Nr": 2, "Kunde": "Zoë Dupré", "Betrag": -7.25, "Menge": 1200,
         "Datum": dt.date(2025, 2, 1)},
        {"Nr": 3, "Kunde": 'Café "Zur Post"', "Betrag": 0.99, "Menge": 12,
         "Datum": dt.date(2025, 3, 15)},
    ],
    types={"Nr": "int64", "Betrag": "double", "Menge": "int64", "Datum": "date32[day]"},
)  # fmt: skip

EXCEL_UNICODE_TEXT = Export(
    name="excel_unicode.txt",
    data=_utf16le(_crlf("id\tname\tcity\n1\tÅsa\tMalmö\n2\tΩmega\tŁódź\n3\t李\t北京\n")),
    sniffed={"encoding": "utf-16le", "delimiter": "\t", "header_rows": 1},
    columns=["id", "name", "city"],
    rows=[
        {"id": 1, "name": "Åsa", "city": "Malmö"},
        {"id": 2, "name": "Ωmega", "city": "Łódź"},
        {"id": 3, "name": "李", "city": "北京"},
    ],
    types={"id": "int64"},
)

REPORT = Export(
    name="report.csv",
    data=(
        b"Monthly sales report\n"
        b"Generated 2025-06-30 08:15 by ERP\n"
        b"\n"
        b"region,month,revenue,orders\n"
        b"North,2025-05,1200.50,14\n"
        b"South,2025-05,980.00,9\n"
        b"East,2025-05,1500.25,21\n"
        b"West,2025-05,700.00,5\n"
        b"\n"
        b"Total,,4380.75,49\n"
        b"Source: internal ERP export\n"
    ),
    sniffed={"skip_rows": 3, "header_rows": 1, "skip_footer": 2, "delimiter": ","},
    columns=["region", "month", "revenue", "orders"],
    rows=[
        {"region": "North", "month": "2025-05", "revenue": 1200.5, "orders": 14},
        {"region": "South", "month": "2025-05", "revenue": 980.0, "orders": 9},
        {"region": "East", "month": "2025-05", "revenue": 1500.25, "orders": 21},
        {"region": "West", "month": "2025-05", "revenue": 700.0, "orders": 5},
    ],
    types={"revenue": "double", "orders": "int64", "month": "string"},
)

PIPES = Export(
    name="legacy_pipes.csv",
    data=(
        b"id|name|note\n"
        b"1|'O\\'Brien'|'says \\'hi\\''\n"
        b"2|'a|b'|'C:\\\\temp'\n"
        b"3|plain|'it\\'s \"quoted\"'\n"
    ),
    sniffed={"delimiter": "|", "quote": "'", "escape": "\\", "header_rows": 1},
    columns=["id", "name", "note"],
    rows=[
        {"id": 1, "name": "O'Brien", "note": "says 'hi'"},
        {"id": 2, "name": "a|b", "note": "C:\\temp"},
        {"id": 3, "name": "plain", "note": 'it\'s "quoted"'},
    ],
)

NULL_TOKENS = Export(
    name="measurements.csv",
    data=(
        b"station,temp,humidity,checked\n"
        b"A,12.5,80,2025-01-01\n"
        b"B,NA,NULL,2025-01-02\n"
        b"C,-,n/a,NA\n"
        b"D,-3.25,55,2025-01-04\n"
        b"E,7,61,2025-01-05\n"
    ),
    sniffed={"null_values": ["NA", "-", "NULL", "n/a"]},
    columns=["station", "temp", "humidity", "checked"],
    rows=[
        {"station": "A", "temp": 12.5, "humidity": 80, "checked": dt.date(2025, 1, 1)},
        {"station": "B", "temp": None, "humidity": None, "checked": dt.date(2025, 1, 2)},
        {"station": "C", "temp": None, "humidity": None, "checked": None},
        {"station": "D", "temp": -3.25, "humidity": 55, "checked": dt.date(2025, 1, 4)},
        {"station": "E", "temp": 7.0, "humidity": 61, "checked": dt.date(2025, 1, 5)},
    ],
    types={"temp": "double", "humidity": "int64", "checked": "date32[day]"},
)

MULTI_ROW_HEADER = Export(
    name="budget.csv",
    data=(
        b",Budget,,Actual,\n"
        b"dept,q1,q2,q1,q2\n"
        b"Sales,100,110,95,120\n"
        b"IT,50,55,52,49\n"
        b"HR,20,20,21,19\n"
    ),
    sniffed={"header_rows": 2},
    columns=["dept", "Budget q1", "q2", "Actual q1", "q2_2"],
    rows=[
        {"dept": "Sales", "Budget q1": 100, "q2": 110, "Actual q1": 95, "q2_2": 120},
        {"dept": "IT", "Budget q1": 50, "q2": 55, "Actual q1": 52, "q2_2": 49},
        {"dept": "HR", "Budget q1": 20, "q2": 20, "Actual q1": 21, "q2_2": 19},
    ],
)

ONE_FIELD_TOO_MANY = Export(
    name="too_many.csv",
    data=b"id,name\n1,a,x\n2,b,y\n3,c,z\n",
    sniffed={"header_rows": 1},
    columns=["id", "name", "column_3"],
    rows=[
        {"id": 1, "name": "a", "column_3": "x"},
        {"id": 2, "name": "b", "column_3": "y"},
        {"id": 3, "name": "c", "column_3": "z"},
    ],
)

TRAILING_DELIMITER = Export(
    name="trailing.csv",
    data=b"id;name\n1;a;\n2;b;\n3;c;\n",
    sniffed={"delimiter": ";"},
    columns=["id", "name"],
    rows=[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}],
)

ONE_FIELD_TOO_FEW = Export(
    name="too_few.csv",
    data=b"id,name,comment\n1,a\n2,b,late\n3,c\n4,d\n",
    sniffed={"ragged": "pad"},
    columns=["id", "name", "comment"],
    rows=[
        {"id": 1, "name": "a", "comment": None},
        {"id": 2, "name": "b", "comment": "late"},
        {"id": 3, "name": "c", "comment": None},
        {"id": 4, "name": "d", "comment": None},
    ],
)

COMMA_SPACE = Export(
    name="comma_space.csv",
    data=b'id, city, amount\n1, Oslo, 2.5\n2, New York, 3\n3, "Rome, IT", 4.75\n',
    sniffed={"delimiter": ", "},
    columns=["id", "city", "amount"],
    rows=[
        {"id": 1, "city": "Oslo", "amount": 2.5},
        {"id": 2, "city": "New York", "amount": 3.0},
        {"id": 3, "city": "Rome, IT", "amount": 4.75},
    ],
)

HEADER_ONLY = Export(
    name="header_only.csv",
    data=b"id;name;amount\r\n",
    sniffed={"delimiter": ";", "header_rows": 1},
    columns=["id", "name", "amount"],
    rows=[],
)

EMPTY = Export(name="empty.csv", data=b"", sniffed={}, columns=[], rows=[])

EXPORTS: tuple[Export, ...] = (
    EUROPEAN,
    EXCEL_UNICODE_TEXT,
    REPORT,
    PIPES,
    NULL_TOKENS,
    MULTI_ROW_HEADER,
    ONE_FIELD_TOO_MANY,
    TRAILING_DELIMITER,
    ONE_FIELD_TOO_FEW,
    COMMA_SPACE,
    HEADER_ONLY,
    EMPTY,
)


def write_exports(directory: Path) -> dict[str, Path]:
    """Write every export into ``directory``; name → path."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for export in EXPORTS:
        path = directory / export.name
        path.write_bytes(export.data)
        paths[export.name] = path
    return paths
