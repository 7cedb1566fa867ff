"""Rendering a long invoice fast: few layout boxes per line, both cores, one PDF.

WeasyPrint lays a table out at about 11 ms per line (a 10,000-line invoice as one table:
~107 s and 1.7 GB), and the cost is the number of layout boxes. So an invoice of at least
`FAST_MIN_LINES` lines prints its lines and its annex in the compact layout: each line is
one block of preformatted text in a monospace font, one text line (a long description
wraps), its columns padded here (widths from the whole document, so every part aligns
the same);
group heads and subtotals are blocks too. The column header repeats at the top of every
page the lines or the annex run over (a `string-set` the page margin prints), and each
part begins with it in the flow.

The rows are cut into parts of about `PART_WEIGHT` (a line with dates weighs 2, an annex
row 1); a pool of `WORKERS` processes forked while this process holds fms.pdf's render
lock renders the parts (the HTML, the fetcher and the PDF variant are inherited by the
fork, nothing is pickled but the part's number and its PDF). The first part carries the
masthead, the part with the last line carries the summary and payment, the annex follows.
The parts are joined with pypdf on the first part's catalog (so a PDF/A part's XMP
metadata and output intent stay), and "Page x of y" is stamped on every page afterwards
(a small WeasyPrint document with the same page box, merged page by page): numbering each
part alone would restart at 1.

A shorter invoice keeps the table layout in one plain render.
"""

from __future__ import annotations

import io
import multiprocessing
import textwrap
from dataclasses import dataclass, field

from flask import current_app

# at and above this many lines: the compact layout, rendered in parts
FAST_MIN_LINES = 300
# text lines per part: ~3,000 keeps a worker's peak near 200 MB, and a 10,000-line close
# (with its annex) makes enough parts for two workers to share evenly
PART_WEIGHT = 3000
WORKERS = 2
# characters per row of the compact layout (7 pt DejaVu Sans Mono: 4.2 pt each; the A4
# text column of 178 mm holds 119)
ROW_WIDTH = 116
GAP = "  "
STAMP_TEMPLATE = "invoicing/pdf/page_numbers.html"


@dataclass(frozen=True)
class Row:
    """One block of the compact layout, its `text` preformatted."""

    kind: str  # "head", "line", "subtotal" or "annex"
    text: str

    @property
    def weight(self) -> int:
        """Its text lines (what a render's time goes by)."""
        return self.text.count("\n") + 1


@dataclass
class Part:
    """What one part of a long document prints."""

    index: int
    first: bool
    joined: bool  # page numbers are stamped after the join, not printed here
    lines: list[Row] = field(default_factory=list)
    annex: list[Row] = field(default_factory=list)
    summary: bool = False  # the summary and payment (after the last line)
    annex_start: bool = False  # the annex's title


@dataclass(frozen=True)
class Compact:
    """The compact layout's column headers."""

    line_header: str
    annex_header: str


def _columns(values: list[list[str]], headers: list[str]) -> list[int]:
    widths = [len(h) for h in headers]
    for row in values:
        for n, value in enumerate(row):
            widths[n] = max(widths[n], len(value))
    return widths


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def compact_rows(document) -> tuple[Compact, list[Row], list[Row]]:
    """The compact layout of a document: its column headers, its line rows (group heads,
    lines, subtotals in order) and its annex rows. A line is one text line (its work dates
    a column, "prior period" after its description) unless its description wraps."""
    cells = [
        [line.dates, line.quantity, line.rate, line.vat, line.net]
        for group in document.groups
        for line in group.lines
    ] + [["", "", "", "", group.subtotal] for group in document.groups]
    widths = _columns(cells, ["Dates", "Quantity", "Rate", "VAT", "Net"])
    # no dates column when no line has dates (lines made by hand)
    with_dates = any(row[0] for row in cells)
    pw = max([1] + [len(str(line.position)) for g in document.groups for line in g.lines])
    taken = sum(widths) if with_dates else sum(widths[1:]) - len(GAP)
    dw = max(20, ROW_WIDTH - pw - taken - 6 * len(GAP))

    def figures_of(*values):
        dates, *numbers = values
        return GAP.join(
            ([dates.ljust(widths[0])] if with_dates else [])
            + [v.rjust(w) for v, w in zip(numbers, widths[1:], strict=True)]
        )

    header = GAP.join(
        [
            "#".ljust(pw),
            "Description".ljust(dw),
            figures_of("Dates", "Quantity", "Rate", "VAT", "Net"),
        ]
    )
    rows: list[Row] = []
    for group in document.groups:
        title = group.cost_centre + (f" · PO {group.po_number}" if group.po_number else "")
        rows.append(Row("head", title))
        for line in group.lines:
            description = line.description + (" · prior period" if line.prior_period else "")
            chunks = _wrap(description, dw)
            text = [
                (str(line.position).rjust(pw) if n == 0 else " " * pw) + GAP + chunk.ljust(dw)
                for n, chunk in enumerate(chunks)
            ]
            # the figures on the description's last line: its text reads in column order
            text[-1] += GAP + figures_of(line.dates, line.quantity, line.rate, line.vat, line.net)
            rows.append(Row("line", "\n".join(text)))
        label = _wrap(f"Subtotal: {title}", ROW_WIDTH - widths[-1] - len(GAP))
        last = (
            label[-1].ljust(ROW_WIDTH - widths[-1] - len(GAP))
            + GAP
            + group.subtotal.rjust(widths[-1])
        )
        rows.append(Row("subtotal", "\n".join([*label[:-1], last])))

    cells = [
        [row.freelancer, row.engagement, row.week, row.billed_days, row.hours, row.days]
        for row in document.annex
    ]
    heads = ["Freelancer", "Engagement", "Week", "Days billed here", "Hours", "Days"]
    widths = _columns(cells, heads)
    # the engagement's title takes what is left, wrapped when it is longer
    rest = ROW_WIDTH - sum(widths) + widths[1] - 5 * len(GAP)
    widths[1] = max(12, min(widths[1], rest))

    def annex_line(values):
        return GAP.join(
            v.rjust(w) if n >= 4 else v.ljust(w)
            for n, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    annex = []
    for values in cells:
        titles = _wrap(values[1], widths[1])
        text = [annex_line([values[0], titles[0], *values[2:]])]
        text += [annex_line(["", more, "", "", "", ""]) for more in titles[1:]]
        annex.append(Row("annex", "\n".join(text)))
    return Compact(header.rstrip(), annex_line(heads)), rows, annex


def split_parts(lines: list[Row], annex: list[Row], *, weight: int) -> list[Part]:
    """The rows cut into parts of about `weight` (the last part takes what is left)."""
    stream = [("lines", row) for row in lines] + [("annex", row) for row in annex]
    chunks: list[list] = [[]]
    load = 0
    for item in stream:
        if load >= weight and chunks[-1]:
            chunks.append([])
            load = 0
        chunks[-1].append(item)
        load += item[1].weight
    joined = len(chunks) > 1
    parts = []
    for index, chunk in enumerate(chunks):
        part = Part(index=index, first=index == 0, joined=joined)
        part.lines = [row for where, row in chunk if where == "lines"]
        part.annex = [row for where, row in chunk if where == "annex"]
        parts.append(part)
    with_lines = [part for part in parts if part.lines] or parts[:1]
    with_lines[-1].summary = True
    with_annex = [part for part in parts if part.annex]
    if with_annex:
        with_annex[0].annex_start = True
    return parts


# --- rendering in a pool --------------------------------------------------------------------

# what the forked workers render: set by the parent just before it forks them
_WORK: dict = {}


def _render_part(index: int) -> bytes:
    return _render_html(_WORK["html"][index])


def _render_html(html: str) -> bytes:
    from fms.pdf import write_pdf

    return write_pdf(html, fetcher=_WORK["fetcher"], pdf_variant=_WORK["pdf_variant"])


def _can_fork(workers: int, parts: int) -> bool:
    return parts > 1 and workers > 1 and "fork" in multiprocessing.get_all_start_methods()


def render_parts(htmls: list[str], *, fetcher, pdf_variant: str | None, workers: int) -> bytes:
    """One PDF of the HTML parts: rendered by a pool of forked processes (in this process
    when there is one part, one worker, or no fork here), joined, page-numbered."""
    from fms import pdf

    # no other thread of ours renders while we fork (Pango's and fontconfig's locks)
    with pdf._RENDER_LOCK:  # noqa: SLF001 - the render lock of fms.pdf, shared on purpose
        _WORK.update(html=htmls, fetcher=fetcher, pdf_variant=pdf_variant)
        try:
            if not _can_fork(workers, len(htmls)):
                return _join_and_stamp([_render_part(n) for n in range(len(htmls))], map)
            context = multiprocessing.get_context("fork")
            pool = context.Pool(min(workers, len(htmls)), initializer=_default_sigterm)
            try:
                rendered = pool.map(_render_part, range(len(htmls)), chunksize=1)
                result = _join_and_stamp(
                    rendered, lambda fn, items: pool.map(fn, items, chunksize=1), workers
                )
                # let the workers finish and exit: terminating idle workers could leave one
                # blocked on the task queue's lock for good (the pool then never joins it)
                pool.close()
                pool.join()
                return result
            except BaseException:
                pool.terminate()
                raise
        finally:
            _WORK.clear()


def _default_sigterm() -> None:
    """A forked worker dies on SIGTERM, whatever handler its parent process installed (a
    handler that returns would keep it waiting, and the pool's terminate waiting on it)."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _join_and_stamp(rendered: list[bytes], mapper, chunks: int = 1) -> bytes:
    if len(rendered) == 1:
        return rendered[0]
    writer = join_pdfs(rendered)
    stamp_page_numbers(writer, mapper, chunks)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def join_pdfs(parts: list[bytes]):
    """A pypdf writer of the parts' pages, on the first part's catalog (its metadata and
    output intents)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(parts[0]))
    for data in parts[1:]:
        for page in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(page)
    return writer


def stamp_page_numbers(writer, mapper=map, chunks: int = 1) -> None:
    """ "Page x of y" on every page of a joined document: WeasyPrint documents of as many
    empty pages with the invoice's page box and footer style (in `chunks` ranges, each
    numbered from its first page, rendered by `mapper`), merged page by page."""
    from pypdf import PdfReader

    pages = writer.pages
    total = len(pages)
    box = pages[0].mediabox
    template = current_app.jinja_env.get_template(STAMP_TEMPLATE)
    size = -(-total // max(1, chunks))
    htmls = [
        template.render(
            first=first + 1,
            count=min(size, total - first),
            total=total,
            width=float(box.width),
            height=float(box.height),
        )
        for first in range(0, total, size)
    ]
    stamps = [
        page for data in mapper(_render_html, htmls) for page in PdfReader(io.BytesIO(data)).pages
    ]
    for page, numbers in zip(pages, stamps, strict=True):
        page.merge_page(numbers)


def render_document(
    document,
    *,
    template,
    fetcher=None,
    pdf_variant: str | None = None,
    fast_min_lines: int | None = None,
    part_weight: int | None = None,
    workers: int | None = None,
) -> bytes:
    """The PDF of an invoice document: one plain render below `fast_min_lines` lines, else
    the compact layout in parts of about `part_weight`, joined and page-numbered."""
    from fms.invoicing.pdf import invoice_html
    from fms.pdf import StaticOnlyFetcher, render_pdf

    fetcher = fetcher or StaticOnlyFetcher()
    count = sum(len(group.lines) for group in document.groups)
    threshold = FAST_MIN_LINES if fast_min_lines is None else fast_min_lines
    if count < threshold:
        return render_pdf(
            invoice_html(document, template=template), fetcher=fetcher, pdf_variant=pdf_variant
        )
    compact, lines, annex = compact_rows(document)
    parts = split_parts(lines, annex, weight=part_weight or PART_WEIGHT)
    htmls = [
        invoice_html(document, template=template, compact=compact, part=part) for part in parts
    ]
    return render_parts(htmls, fetcher=fetcher, pdf_variant=pdf_variant, workers=workers or WORKERS)
