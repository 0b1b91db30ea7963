"""Numbered schema migrations, one SQL file per version and dialect, in ``store/migrations/``.

File names are ``NNNN_description.DIALECT.sql`` (``DIALECT`` is ``postgres`` or ``sqlite``); every
version exists for both dialects. Applied versions are recorded in ``schema_migrations``. Nothing
here touches a database: the stores apply the migrations in :meth:`ConnectionStore.migrate`.

Rule for every future migration: expand/contract. On deploy, CloudFormation updates the Lambda
function BEFORE the migrate custom resource runs, so for a while the new code runs against the old
schema. Hence:

* expand: a migration that adds objects (tables, columns, functions, indexes) must ship one release
  BEFORE the code that requires them; code may only start relying on an object once a deployed
  release has migrated it;
* contract: an object is dropped (or renamed, or its meaning changed) only in a release after the
  one whose code stopped using it, since the previous code still runs until the function update.

Applied migrations are never edited; a change is a new, higher-numbered file for both dialects
(a no-op comment file for the dialect that needs nothing, so the numbering stays equal).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .base import StoreError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
DIALECTS = ("postgres", "sqlite")
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.(?P<dialect>[a-z]+)\.sql$")


class MigrationFileError(StoreError):
    """A file in the migrations folder is misnamed or a version is missing for one dialect."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema change for one dialect."""

    version: int
    name: str
    sql: str


@cache
def load_migrations(dialect: str) -> tuple[Migration, ...]:
    """The migrations of ``dialect`` in version order; raises :class:`MigrationFileError`."""
    if dialect not in DIALECTS:
        raise MigrationFileError(f"unknown SQL dialect {dialect!r}; expected one of {DIALECTS}")
    found: dict[str, dict[int, Migration]] = {d: {} for d in DIALECTS}
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None or match["dialect"] not in DIALECTS:
            raise MigrationFileError(
                f"{path.name}: migration files must be named NNNN_description.{{{','.join(DIALECTS)}}}.sql"
            )
        version = int(match["version"])
        if version in found[match["dialect"]]:
            raise MigrationFileError(f"{path.name}: version {version} appears twice for {match['dialect']}")
        found[match["dialect"]][version] = Migration(version, match["name"], path.read_text("utf-8"))
    versions = {d: sorted(found[d]) for d in DIALECTS}
    if len({tuple(v) for v in versions.values()}) != 1:
        raise MigrationFileError(f"every migration needs one file per dialect; versions found: {versions}")
    return tuple(found[dialect][v] for v in versions[dialect])
