"""The report as one self-contained HTML page.

Every chart is embedded as a base64 PNG data URI and the style sheet is
inline: no external CSS, scripts, fonts or links, so the page can be mailed,
archived or opened offline and still show everything.  All text goes
through :func:`html.escape`, tables through ``DataFrame.to_html(escape=True)``.
"""

from __future__ import annotations

import base64
import html
import pathlib

from validate.report.document import Document

STYLE = """
body { font-family: sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #222; }
h1, h2, h3 { line-height: 1.2; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9rem; color: #444; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.82rem; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.45rem; vertical-align: top; }
th { background: #f2f2f2; }
tbody tr:nth-child(even) { background: #fafafa; }
nav ul { columns: 2; }
"""


def _data_uri(path: pathlib.Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _paragraphs(texts) -> str:
    return "\n".join(f"<p>{html.escape(text)}</p>" for text in texts)


def render_html(document: Document, figures_dir) -> str:
    """The page as text; ``figures_dir`` holds the ``<name>.png`` of every chart."""
    figures_dir = pathlib.Path(figures_dir)
    contents = [(f"chart-{c.name}", c.title) for c in document.charts]
    contents += [(f"table-{t.name}", t.title) for t in document.tables]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(document.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(document.title)}</h1>",
        _paragraphs(document.intro),
        "<nav><ul>"
        + "".join(f'<li><a href="#{anchor}">{html.escape(title)}</a></li>' for anchor, title in contents)
        + "</ul></nav>",
        "<h2>Where theory and measurement part</h2>",
        _paragraphs(document.findings),
    ]
    if document.notes:
        parts += ["<h3>Not shown</h3>", _paragraphs(document.notes)]
    parts.append("<h2>Charts</h2>")
    for chart in document.charts:
        parts += [
            f'<figure id="chart-{chart.name}">',
            f"<h3>{html.escape(chart.title)}</h3>",
            f'<img src="{_data_uri(figures_dir / f"{chart.name}.png")}" alt="{html.escape(chart.title, quote=True)}">',
            f"<figcaption>{html.escape(chart.caption)}</figcaption>",
            "</figure>",
        ]
    parts.append("<h2>Tables</h2>")
    for table in document.tables:
        parts += [
            f'<section id="table-{table.name}">',
            f"<h3>{html.escape(table.title)}</h3>",
            f"<p>{html.escape(table.caption)}</p>",
            '<div class="table-wrap">',
            table.frame.to_html(index=False, escape=True, border=0, na_rep="–"),
            "</div>",
            "</section>",
        ]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
