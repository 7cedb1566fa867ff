"""Factories of the workforce area: fixtures, and id factories for the tenancy route walk."""

# route parameter name -> lambda f, org: id of a real object of that organization;
# `f.<fixture name>` reaches any factory fixture, e.g. f.make_member(org).
ID_FACTORIES: dict = {}
