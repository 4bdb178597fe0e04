"""Tables of the results store and the migrations between schema versions.

PRAGMA user_version holds the version. A store of an older version is migrated in place when
it is opened for writing; a read-only one is read as it is (missing columns read as NULL).
"""

from __future__ import annotations

SCHEMA_VERSION = 2

_RUNS = """CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    recipe TEXT NOT NULL,
    config_json TEXT NOT NULL,
    status TEXT NOT NULL,
    seed INTEGER,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    host TEXT,
    pid INTEGER,
    pid_start INTEGER,
    git_rev TEXT,
    run_dir TEXT,
    headline_metric TEXT,
    headline_value REAL,
    summary_json TEXT{extra}
)"""

_EPOCHS = """CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    metrics_json TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
)"""

# A claim says "this process is training (config, seed) right now": see store/claims.py.
_CLAIMS = """CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    recipe TEXT,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start INTEGER,
    claimed_at TEXT NOT NULL
)"""

# version -> statements that bring a store of that version to the next one
MIGRATIONS: dict[int, tuple[str, ...]] = {
    0: (
        _RUNS.format(extra=",\n    parent_id TEXT,\n    failure TEXT"),
        _EPOCHS,
        "CREATE INDEX IF NOT EXISTS runs_by_recipe ON runs(recipe)",
        _CLAIMS,
    ),  # a fresh store: straight to the newest version
    1: (
        "ALTER TABLE runs ADD COLUMN parent_id TEXT",  # the run this one extends (resume)
        "ALTER TABLE runs ADD COLUMN failure TEXT",  # one-line reason of a failed run
        _CLAIMS,
    ),
}
FRESH_TO = {0: SCHEMA_VERSION, 1: 2}  # the version each migration leaves behind

_BASE_COLUMNS = (
    "id, recipe, status, seed, started_at, ended_at, host, pid, git_rev, run_dir, "
    "headline_metric, headline_value, config_json, summary_json"
)


def run_columns(version: int) -> str:
    """The SELECT list of a run in a store of `version` (NULL for columns it does not have)."""
    if version >= 2:
        return _BASE_COLUMNS + ", parent_id, failure"
    return _BASE_COLUMNS + ", NULL AS parent_id, NULL AS failure"
