"""WeasyPrint's system libraries are installed by `make` (invoices and reports need them)."""


def test_weasyprint_renders_a_pdf():
    from weasyprint import HTML

    pdf = HTML(string="<h1>Invoice 2026-0001</h1><p>12.34 EUR</p>").write_pdf()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 500
