"""A long invoice's PDF (fms.invoicing.pdf_parts): the compact layout rendered in parts on
forked workers, joined, page-numbered after the join. Small documents made by hand (no
close needed) and tiny parts force several parts and part boundaries inside a group and
inside the annex; what each PDF prints is checked against the document's own strings
(read back with pypdf), and against the plain table render of the same document."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from fms.invoicing import pdf_parts
from fms.invoicing.pdf import (
    TEMPLATE,
    AnnexLine,
    DocLine,
    InvoiceDocument,
    LineGroup,
    Party,
    TaxLine,
    invoice_pdf_bytes,
)

LINES = 180
LONG = "Principal platform engineer for the payments migration programme, phase two - Time"


def document(lines: int = LINES, annex: int = 40) -> InvoiceDocument:
    """`lines` lines of 1:00 h at €90.00 in three groups (a prior-period line every 7th,
    a description that wraps every 50th), subtotals and totals worked out here."""
    groups, position = [], 1
    per_group = -(-lines // 3)
    for g in range(3):
        rows = []
        for _ in range(min(per_group, lines - position + 1)):
            rows.append(
                DocLine(
                    position=position,
                    description=LONG if position % 50 == 0 else f"Engineer {position:04d} - Time",
                    kind="Time",
                    dates="Nov 2, 2026 – Nov 6, 2026",
                    prior_period=position % 7 == 0,
                    quantity="1:00 h",
                    rate="€90.00",
                    vat="19 %",
                    net="€90.00",
                )
            )
            position += 1
        groups.append(
            LineGroup(f"Cost centre CC-{g} Centre {g}", "PO-9", rows, f"€{90 * len(rows):,}.00")
        )
    party = Party("FMS Services GmbH", "Hauptstr. 1\n10115 Berlin", "DE", "DE999999999")
    net = 90 * lines
    return InvoiceDocument(
        title="Invoice",
        number="INV-2026-0001",
        is_credit_note=False,
        credited_number=None,
        reason=None,
        currency="EUR",
        issuer=party,
        bill_to=Party("Client GmbH", "Marktplatz 5", "DE", "DE123456789"),
        logo_data_url=None,
        issue_date="Dec 4, 2026",
        due_date="Jan 3, 2027",
        period="Nov 1, 2026 – Nov 30, 2026",
        po_number=None,
        groups=groups,
        taxes=[TaxLine("Standard rate", "19 %", f"€{net:,}.00", f"€{net * 0.19:,.2f}")],
        vat_notes=[],
        net_total=f"€{net:,}.00",
        tax_total=f"€{net * 0.19:,.2f}",
        gross_total=f"€{net * 1.19:,.2f}",
        iban="DE89370400440532013000",
        bic="COBADEFFXXX",
        bank_text=None,
        payment_terms="Payable within 30 days.",
        annex=[
            AnnexLine(
                f"Freelancer {n:03d}", "Engineer", "Nov 2, 2026 – Nov 8, 2026", "", "8:00 h", ""
            )
            for n in range(annex)
        ],
    )


def pages_of(data: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def expected(doc: InvoiceDocument) -> list[list[str]]:
    """The strings the PDF prints, per kind, in document order."""
    heads, figures, annex = [], [], []
    for group in doc.groups:
        for line in group.lines:
            heads.append(f"{line.position} {line.description}")
            figures.append(f"{line.quantity} {line.rate} {line.vat} {line.net}")
        figures.append(f"Subtotal: {group.cost_centre} · PO {group.po_number} {group.subtotal}")
    figures += [f"Net total {doc.net_total}", f"Total due {doc.gross_total}"]
    for row in doc.annex:
        annex += [row.freelancer, f"{row.week} {row.hours}"]
    return [heads, figures, annex]


def missing(text: str, strings: list[str]) -> list[str]:
    out, at = [], 0
    for string in strings:
        found = text.find(string, at)
        if found < 0:
            out.append(string)
        else:
            at = found + len(string)
    return out


@pytest.fixture
def fast(app):
    """The compact render of `document()` in parts of 60 text lines on two workers."""
    with app.app_context():
        doc = document()
        data = pdf_parts.render_document(
            doc, template=TEMPLATE, fast_min_lines=0, part_weight=60, workers=2
        )
    return doc, data


def test_parts_print_the_same_lines_subtotals_annex_and_totals_as_the_plain_table(app, fast):
    doc, data = fast
    compact, lines, annex = pdf_parts.compact_rows(doc)
    assert len(pdf_parts.split_parts(lines, annex, weight=60)) >= 4  # boundaries in a group
    with app.app_context():
        plain = invoice_pdf_bytes(doc)  # 180 lines: below the threshold, one table
    assert "Dates" not in pages_of(plain)[0]  # the table layout indeed
    for text in (" ".join(pages_of(data)), " ".join(pages_of(plain))):
        for strings in expected(doc):
            assert missing(text, strings) == []
        assert text.count("Total due") == 1
        assert "prior period" in text
    ours = " ".join(pages_of(data))
    for group in doc.groups:  # every line once, none doubled at a part boundary
        for line in group.lines:
            assert ours.count(f" {line.position} {line.description}") == 1


def test_every_page_of_a_joined_pdf_says_page_x_of_y_once(fast):
    _doc, data = fast
    pages = pages_of(data)
    total = len(pages)
    assert total >= 5
    for n, text in enumerate(pages, start=1):
        assert text.count(f"Page {n} of {total}") == 1, (n, text[-120:])
        assert text.count("Page ") == 1  # no part's own number under the stamp
        assert "FMS Services GmbH · Invoice INV-2026-0001" in text  # the running footer


def test_the_column_header_heads_every_page_the_lines_and_the_annex_run_over(fast):
    _doc, data = fast
    pages = pages_of(data)
    line_header = "# Description Dates Quantity Rate VAT Net"
    annex_header = "Freelancer Engagement Week Days billed here Hours Days"
    for text in pages:
        if "- Time" in text:
            assert text.count(line_header) == 1, text[:200]
        if "Freelancer 0" in text:
            assert text.count(annex_header) == 1, text[:200]
    assert sum("Freelancer 0" in text for text in pages) >= 1


def test_compact_rows_align_their_figures_in_one_column():
    compact, lines, _annex = pdf_parts.compact_rows(document())
    ends = {len(row.text.split("\n")[-1]) for row in lines if row.kind in ("line", "subtotal")}
    assert ends == {len(compact.line_header)}  # the net column ends at the same place
    wrapped = [row for row in lines if LONG[:20] in row.text]
    assert wrapped and all("\n" in row.text for row in wrapped)
    assert all(row.text.split("\n")[-1].endswith("€90.00") for row in wrapped)


def test_a_pdf_a_3b_render_keeps_its_output_intent_and_metadata_after_the_join(app):
    with app.app_context():
        data = pdf_parts.render_document(
            document(lines=90, annex=10),
            template=TEMPLATE,
            pdf_variant="pdf/a-3b",
            fast_min_lines=0,
            part_weight=40,
            workers=2,
        )
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 3
    root = reader.trailer["/Root"]
    assert "/OutputIntents" in root
    intent = root["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in intent
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert "pdfaid" in xmp and ">3<" in xmp.replace('pdfaid:part="3"', ">3<")
    for page in reader.pages:  # every font embedded, the stamps' too
        fonts = page["/Resources"].get_object().get("/Font", {})
        for font in fonts.values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor)


def test_the_rq_worker_warms_weasyprint_before_it_forks(app, monkeypatch):
    import redis
    import rq

    from fms import jobs, pdf

    calls = []
    monkeypatch.setattr(pdf, "warm_up", lambda: calls.append("warm up"))
    monkeypatch.setattr(redis.Redis, "from_url", classmethod(lambda cls, url: object()))
    monkeypatch.setattr(rq.Queue, "__init__", lambda self, *a, **kw: None)
    monkeypatch.setattr(rq.Worker, "__init__", lambda self, *a, **kw: None)
    monkeypatch.setattr(rq.Worker, "work", lambda self, **kw: calls.append("work"))
    jobs.start_worker(app, burst=True)
    assert calls == ["warm up", "work"]
