"""Small HTML helpers shared by the report's sections. Cells passed to ``table`` are already
escaped; everything else escapes its text itself."""

from __future__ import annotations

import html
from collections.abc import Collection, Iterable, Sequence


def esc(value: object) -> str:
    """Text for HTML: ``&``, ``<``, ``>`` and both quotes escaped."""
    return html.escape(str(value), quote=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Collection[int] = ()) -> str:
    """A table from already-escaped cells; columns in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{header}</th>" for header in headers)
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        cells = "".join(
            f'<td class="num">{cell}</td>' if index in numeric else f"<td>{cell}</td>" for index, cell in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def number(value: float | None, signed: bool = False) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def arrow(higher_is_better: bool | None) -> str:
    return "" if higher_is_better is None else (" ↑" if higher_is_better else " ↓")


def error_box(title: str, message: str) -> str:
    return f'<div class="error"><b>{esc(title)}</b><br>{esc(message)}</div>'
