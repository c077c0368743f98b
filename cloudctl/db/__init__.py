"""State: the SQLAlchemy declarative base, the async engine and sessions.

Owns how the cloud talks to its database (SQLite embedded, PostgreSQL scaled out);
the tables themselves live next to the service that owns them
(``cloudctl/services/<service>/models.py``) and are registered in ``models.py``.
"""
