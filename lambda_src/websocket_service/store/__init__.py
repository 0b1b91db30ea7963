"""Store backends: the ConnectionStore protocol, PostgreSQL and SQLite implementations."""
