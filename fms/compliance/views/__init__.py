"""Compliance pages: the officer's policies, templates, reviews and dashboard; the
freelancer's onboarding (sign, upload, answer). Each room registers its routes on `bp`."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("compliance", __name__, url_prefix="/compliance")

from fms.compliance.views import (  # noqa: E402, F401
    offboarding,
    officer,
    officer_reviews,
    onboarding,
)
