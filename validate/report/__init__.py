"""The report: results folders rendered as charts, tables, one HTML page and Markdown.

Computing, storing and rendering stay apart: :mod:`~validate.report.data`
reads the CSV/JSON results into tidy pandas frames,
:mod:`~validate.report.derived` adds what the cost model knows about each row,
:mod:`~validate.report.charts` and :mod:`~validate.report.tables` turn frames
into figures and tables, :mod:`~validate.report.html` and
:mod:`~validate.report.markdown` write them out, and
:mod:`~validate.report.build` ties it together.

pandas and matplotlib are imported here and nowhere in ``costmodel``;
TensorFlow is never imported.

    python -m validate.report --results results/ --out report/
"""

from validate.report.build import build_report
from validate.report.data import Results, load_results

__all__ = ["Results", "build_report", "load_results"]
