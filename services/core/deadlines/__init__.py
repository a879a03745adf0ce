"""Deadlines as rows planned by the lifecycle, SLA profiles per tenant and category, the tenant's calendar.

``rules`` (kinds, events, the templates' profiles), ``models`` (tables), ``service`` (the planner called by
the complaint steps, extensions, calendar and profile administration, reading helpers).
"""
