"""Imports every domain's models so the metadata (and Alembic) knows every table."""

from fms.audit.models import AuditChainHead, AuditEntry  # noqa: F401
from fms.identity.models import Membership, Organization, SignInSession, User  # noqa: F401
from fms.jobs import JobRun  # noqa: F401
from fms.workforce.models import CostCentre, Department, Freelancer, Location  # noqa: F401
