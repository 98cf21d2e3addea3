"""What people read: a run's HTML page, a comparison's pages, their shared pieces, the chart, --dry-run's projection."""

from .compare_page import ARM_COLORS, render_html, render_markdown, terminal_table, write_reports
from .projection import Projection, projected_spend
from .run_page import COLORS, write_run_report

__all__ = ["ARM_COLORS", "COLORS", "Projection", "projected_spend", "render_html", "render_markdown",
           "terminal_table", "write_reports", "write_run_report"]
