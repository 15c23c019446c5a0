"""The report as Markdown: the same content as the HTML page, figures as files.

Charts are referenced as ``figures/<name>.png`` relative to ``report.md``;
tables are pipe tables written here (no tabulate dependency).
"""

from __future__ import annotations

import pandas as pd

from validate.report.document import Document


def _cell(value) -> str:
    """A cell safe inside a pipe table: no pipe, no line break."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def pipe_table(frame: pd.DataFrame) -> str:
    """A DataFrame of text cells as a Markdown pipe table (header, rule, one line per row).

    >>> print(pipe_table(pd.DataFrame({"case": ["5x5 stack"], "ratio": ["0.72|x"]})))
    | case | ratio |
    | --- | --- |
    | 5x5 stack | 0.72\\|x |
    """
    lines = ["| " + " | ".join(_cell(column) for column in frame.columns) + " |",
             "| " + " | ".join("---" for _ in frame.columns) + " |"]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |"
              for row in frame.itertuples(index=False, name=None)]
    return "\n".join(lines)


def render_markdown(document: Document) -> str:
    """The report as Markdown text."""
    parts = [f"# {document.title}", *document.intro, "## Where theory and measurement part",
             *document.findings]
    if document.notes:
        parts += ["### Not shown", *document.notes]
    parts.append("## Charts")
    for chart in document.charts:
        parts += [f"### {chart.title}", f"![{chart.title}](figures/{chart.name}.png)", chart.caption]
    parts.append("## Tables")
    for table in document.tables:
        parts += [f"### {table.title}", table.caption, pipe_table(table.frame)]
    return "\n\n".join(parts) + "\n"
