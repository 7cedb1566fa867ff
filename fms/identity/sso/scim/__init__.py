"""SCIM 2.0 provisioning: the rules (services) and the /scim/v2 endpoint (api)."""
