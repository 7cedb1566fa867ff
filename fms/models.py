"""Imports every domain's models so the metadata (and Alembic) knows every table.

Whole modules are imported, so a new model in a domain's models.py is known at once.
"""

import fms.audit.models  # noqa: F401
import fms.compliance.models  # noqa: F401
import fms.forms  # noqa: F401  - UsedFormToken
import fms.identity.models  # noqa: F401
import fms.invoicing.models  # noqa: F401
import fms.jobs  # noqa: F401  - JobRun
import fms.notifications.models  # noqa: F401
import fms.saved_views  # noqa: F401  - SavedView
import fms.storage  # noqa: F401  - StoredFile
import fms.timesheets.models  # noqa: F401
import fms.workforce.models  # noqa: F401
