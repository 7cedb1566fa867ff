"""Notifications: mail (and later webhook-style deliveries) through one durable outbox."""
