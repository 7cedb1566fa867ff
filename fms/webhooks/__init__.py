"""Signed webhooks: org admins register endpoints and pick events; FMS posts each event
to them at least once, signed in the style of the Standard Webhooks specification.

The rooms: `events.py` (the event registry and the objects' API bodies), `emission.py`
(areas' record events collected in the business transaction, written as delivery rows
when it commits), `signing.py` (secrets and signatures, no I/O), `rules.py` (the retry
schedule, no I/O), `sender.py` (the drain), `services.py` / `queries.py`, and the pages,
API and CLI.
"""
