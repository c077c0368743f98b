"""The API server: aiohttp app, routing to services, the request pipeline, workers.

Owns HTTP and the order of the pipeline (route, authenticate, parse, authorise,
call the provider, serialize). It knows no wire format (``cloudctl.protocol``) and
no business rule (``cloudctl.services``).
"""
