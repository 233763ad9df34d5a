"""The SQLite state store."""
