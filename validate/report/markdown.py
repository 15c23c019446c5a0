"""The report as Markdown: the same content as the HTML page, figures as files.

Charts are referenced as ``figures/<name>.png`` relative to ``report.md``;
tables are pipe tables written here (no tabulate dependency).
"""

from __future__ import annotations

import pandas as pd

from validate.report.document import Document

# Characters that start Markdown syntax or raw HTML: a CPU model or a GPU name from a results
# folder's metadata must show as written, never become a link, an image, markup or a script.
# Parentheses and "!" need no escape: a link or an image cannot start without an unescaped "[".
_MARKDOWN_SPECIAL = frozenset("\\`*_[]<>#|~&")


def escape(text: object) -> str:
    """Text from data, safe anywhere in Markdown: every syntax character backslash-escaped.

    >>> print(escape("Xeon <script>alert(1)</script> [x](javascript:y) *bold* | #"))
    Xeon \\<script\\>alert(1)\\</script\\> \\[x\\](javascript:y) \\*bold\\* \\| \\#
    """
    return "".join(f"\\{character}" if character in _MARKDOWN_SPECIAL else character for character in str(text))


def _cell(value: object) -> str:
    """A cell safe inside a pipe table: escaped, no line break."""
    return escape(value).replace("\r", " ").replace("\n", " ")


def _paragraph(text: object) -> str:
    """A paragraph of text from data: escaped, its line breaks kept as spaces so it stays one paragraph."""
    return " ".join(escape(text).split())


def pipe_table(frame: pd.DataFrame) -> str:
    """A DataFrame of text cells as a Markdown pipe table (header, rule, one line per row).

    >>> print(pipe_table(pd.DataFrame({"case": ["5x5 stack"], "ratio": ["0.72|x"]})))
    | case | ratio |
    | --- | --- |
    | 5x5 stack | 0.72\\|x |
    """
    lines = [
        "| " + " | ".join(_cell(column) for column in frame.columns) + " |",
        "| " + " | ".join("---" for _ in frame.columns) + " |",
    ]
    lines += [
        "| " + " | ".join(_cell(value) for value in row) + " |" for row in frame.itertuples(index=False, name=None)
    ]
    return "\n".join(lines)


def render_markdown(document: Document) -> str:
    """The report as Markdown text."""
    parts = [
        f"# {escape(document.title)}",
        *map(_paragraph, document.intro),
        "## Where theory and measurement part",
        *map(_paragraph, document.findings),
    ]
    if document.notes:
        parts += ["### Not shown", *map(_paragraph, document.notes)]
    parts.append("## Charts")
    for chart in document.charts:
        parts += [
            f"### {escape(chart.title)}",
            f"![{escape(chart.title)}](figures/{chart.name}.png)",
            _paragraph(chart.caption),
        ]
    parts.append("## Tables")
    for table in document.tables:
        parts += [f"### {escape(table.title)}", _paragraph(table.caption), pipe_table(table.frame)]
    return "\n\n".join(parts) + "\n"
