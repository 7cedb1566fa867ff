"""Reports: dashboards, spend analytics and exports. Nothing imports this package."""
