"""The work behind the routes, one module per resource (experiments, sweeps, accounts).

A service function takes its inputs and `*, session, principal, settings` keyword-only, owns the
transaction of a change (the change and its audit record are committed together, or neither is),
and raises the domain errors of api.services.errors; api.errors maps them to HTTP once. Nothing
here knows about requests, responses or HTTPException.
"""
