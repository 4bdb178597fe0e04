"""`scratchdl runs show ID` and `scratchdl runs rm ID...`: one stored run in full, or deletion."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from scratchdl.cli.table import render
from scratchdl.errors import UserError


def _get(store, run_id: str) -> dict:
    run = store.get_run(run_id)
    if run is None:
        raise UserError(f"no stored run {run_id!r}; list ids with `scratchdl report`")
    return run


def cmd_runs_show(args: argparse.Namespace) -> int:
    from scratchdl.config import dumps_toml
    from scratchdl.store import RunStore

    store = RunStore()
    run = _get(store, args.run_id)
    value = run["headline_value"]
    lines = [
        f"run {run['id']}",
        f"recipe:   {run['recipe']} (seed {run['seed']})",
        f"status:   {run['status']}",
    ]
    if run.get("failure"):
        lines.append(f"failure:  {run['failure']}")
    if run.get("parent_id"):
        lines.append(f"parent:   {run['parent_id']} (this run continues it)")
    children = store.children(run["id"])
    if children:
        lines.append(f"extended by: {', '.join(children)}")
    shown = "-" if value is None else f"{value:.4f}"
    lines += [
        f"result:   {run['headline_metric']} {shown}",
        f"started:  {run['started_at']}   ended: {run['ended_at'] or '-'}",
        f"host:     {run['host']} (pid {run['pid']}), git {run['git_rev'] or '-'}",
        f"run dir:  {run['run_dir']}",
    ]
    print("\n".join(lines))
    epochs = store.epochs(run["id"])
    if epochs:
        columns = ["epoch", *[k for k in epochs[0] if k != "epoch"]]
        rounded = [
            {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in e.items()} for e in epochs
        ]
        print("\nmetrics per epoch:")
        print(render(rounded, columns))
    run_dir = Path(run["run_dir"] or "")
    if run["run_dir"] and run_dir.is_dir():
        print(f"\nfiles in {run_dir}:")
        for path in sorted(run_dir.iterdir()):
            size = path.stat().st_size if path.is_file() else 0
            print(f"  {path.name}  ({size:,} bytes)" if path.is_file() else f"  {path.name}/")
    else:
        print(f"\nrun dir {run['run_dir']} no longer exists")
    print("\nconfig:")
    print(dumps_toml(run["config"]), end="")
    return 0


def cmd_runs_rm(args: argparse.Namespace) -> int:
    from scratchdl.store import RunStore

    store = RunStore()
    runs = [_get(store, run_id) for run_id in dict.fromkeys(args.run_ids)]  # all known first
    for run in runs:
        if run["status"] == "running":
            raise UserError(f"run {run['id']} is still running (pid {run['pid']}); stop it first")
    doomed = {run["id"] for run in runs}
    shared = {run["id"]: _dir_shared(store, run, doomed) for run in runs}
    for run in runs:
        note = " (directory kept: another run uses it)" if shared[run["id"]] else ""
        print(f"{run['id']}: {run['status']}, {run['run_dir']}{note}")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError("runs rm asks for confirmation on a terminal; pass --yes to skip it")
        answer = input(f"delete these {len(runs)} run(s) and their directories? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    for run in runs:
        store.delete_run(run["id"])
        if run["run_dir"] and not shared[run["id"]]:
            shutil.rmtree(run["run_dir"], ignore_errors=True)
    print(f"deleted {len(runs)} run(s)")
    return 0


def _dir_shared(store, run: dict, doomed: set[str]) -> bool:
    """True if another stored run that stays (a resumed extension, its parent) lives in the same
    directory."""
    if not run["run_dir"]:
        return False
    related = [*store.children(run["id"]), *([run["parent_id"]] if run.get("parent_id") else [])]
    for other_id in set(related) - doomed:
        other = store.get_run(other_id)
        if other is not None and other["run_dir"] == run["run_dir"]:
            return True
    return False
