"""Workforce: org structure, suppliers, freelancers, requisitions, engagements, headcount."""
