"""`teamcost serve`: the team dashboard (ASGI app, JSON API, Server-Sent Events, page).

The web layer is thin like the CLI: every number comes from the library
(``teamcost.reports``, ``teamcost.budget``); the page renders what the API returns.
"""
