"""Persistence of newswatch: SQLAlchemy models, sessions, repository functions, migrations."""
