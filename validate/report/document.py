"""What a report holds, independent of its format: the HTML and Markdown renderers read this.

Charts are referenced by name; each renderer decides how to include the
saved image (embedded in the HTML page, a relative link in Markdown).
"""

from __future__ import annotations

import dataclasses

import pandas as pd


@dataclasses.dataclass(frozen=True)
class ChartEntry:
    """A saved chart: ``name`` is the file stem under ``figures/``."""

    name: str
    title: str
    caption: str


@dataclasses.dataclass(frozen=True)
class TableEntry:
    """A table, already formatted as text cells (see :func:`validate.report.tables.formatted`)."""

    name: str
    title: str
    caption: str
    frame: pd.DataFrame


@dataclasses.dataclass(frozen=True)
class Document:
    """A whole report: title, introduction, findings, charts (first), then tables."""

    title: str
    intro: list
    findings: list
    charts: list
    tables: list
    notes: list = dataclasses.field(default_factory=list)  # what could not be shown, and why
