"""API tokens: integrations (service accounts with roles, owned by the organization) and
personal tokens (a person's own, within one membership). See services.py for the rules."""
