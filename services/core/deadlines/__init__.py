"""Deadlines as rows planned by the lifecycle, SLA profiles per tenant and category, the tenant's calendar.

``rules`` (kinds, events, pause conditions, the templates' profiles), ``models`` (tables), ``service`` (the
planner called by the complaint steps, pausing and resuming, extensions, calendar and profile administration,
reading helpers), ``appraisal`` (a case on external appraisal: the deadlines that pause for it).
"""
