"""Compliance routes of /api/v1: policies, documents, signatures, classification, tenure."""

from __future__ import annotations

from flask_smorest import Blueprint

from fms.api.common import API_PREFIX

blp = Blueprint(
    "compliance_api", __name__, url_prefix=API_PREFIX, description="Compliance and onboarding"
)
