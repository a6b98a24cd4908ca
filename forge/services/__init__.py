"""What forge does, as plain functions over a database session: no Flask, no HTTP.

Services raise the domain errors in `forge.services.errors`; the web and API layers turn
them into status codes in one place each.
"""
