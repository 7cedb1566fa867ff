"""Invoicing pages: finance's invoices (list, one invoice with its actions), the close of a
billing period (preview, then drafts), billing settings; the freelancer's billed work. Each
room registers its routes on `bp`."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("invoicing", __name__, url_prefix="/invoicing")

# the invoicing jobs (close, PDF) are declared where they live; importing them here, at app
# start, lets an rq worker that only loaded the app run them
from fms.invoicing import jobs, pdf  # noqa: E402, F401
from fms.invoicing.views import billing, invoices, mine  # noqa: E402, F401
