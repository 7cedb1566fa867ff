"""Reports: dashboards, spend analytics and exports. Nothing imports this package."""

# the spend roll-up keeps itself from session events and Timesheets' signals
from fms.reports import rollup  # noqa: E402, F401
