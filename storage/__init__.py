"""Persistence of newswatch: SQLAlchemy models, sessions, repository functions, migrations."""

# Here rather than in storage.db so that reading it (a command's --help shows it) costs no
# SQLAlchemy import. A relative SQLite path is relative to the working directory of the process.
DEFAULT_DATABASE_URL = "sqlite:///newswatch.db"
