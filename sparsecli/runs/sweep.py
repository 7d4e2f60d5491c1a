"""The record of a `-m` sweep: which run directory holds which swept values.

Each sweep gets its own folder, `<runs_root>/<command>/sweeps/<id>/`, holding Hydra's
`multirun.yaml` (so a later sweep never overwrites it), one file per job in `jobs/`
(written by the job itself, wherever the launcher ran it), and, at the end, `summary.tsv`:
the swept values, what differs between the runs' settings (when the command reports them,
as eval does for the runs it scores), the command's summary columns (e.g. eval's
measures), and each job's run directory or error. The same table goes to stderr. The jobs
themselves write to `<runs_root>/<command>/<key>/`, so a sweep's runs are cache hits later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from hydra.experimental.callback import Callback

from sparsecli.io.files import atomic_write_text
from sparsecli.runs.compare import labels
from sparsecli.runs.rundir import DONE

JOBS = "jobs"
SUMMARY = "summary.tsv"

# (exit code, line) of each failed job of the last sweep this process ended, for its exit code
failed_jobs: list[tuple[int, str]] = []


def record_job(command: Any, run: Any, overrides: list[str], failure: Optional[tuple[int, str]] = None) -> None:
    """Write the record of one job of the current sweep: its overrides and run directory,
    its summary columns, or its failure."""
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    entry: dict = {"overrides": overrides, "run_dir": str(run.path)}
    if failure is not None:
        entry["exit_code"], entry["error"] = failure
    elif command.summary is not None:
        entry["summary"] = command.summary(run)
    folder = Path(hydra_cfg.sweep.dir) / JOBS
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / f"{hydra_cfg.job.num:06d}.json", json.dumps(entry) + "\n")


def _format(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _short(value: str) -> str:
    """A run directory as <command>/<key>; anything else as it is."""
    path = Path(value)
    return f"{path.parent.name}/{path.name}" if (path / DONE).is_file() else value


def read_jobs(folder: Path) -> list[dict]:
    jobs = []
    for path in sorted((folder / JOBS).glob("*.json")) if (folder / JOBS).is_dir() else []:
        try:
            jobs.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            pass  # a job killed while writing: it is simply not listed
    return jobs


def summarize(jobs: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The sweep's table: a column per override that varies, what differs between the
    runs' settings, the command's summary columns, then the run (or the job's error)."""
    values = [dict(o.split("=", 1) for o in job["overrides"] if "=" in o) for job in jobs]
    keys = list(dict.fromkeys(k for v in values for k in v))
    swept = [k for k in keys if len({v.get(k) for v in values}) > 1] or keys[:1]
    summaries = [dict(job.get("summary", {})) for job in jobs]
    settings = [s.pop("settings", None) for s in summaries]
    differs = labels([s or {} for s in settings]) if any(settings) else None
    extra = list(dict.fromkeys(c for s in summaries for c in s))
    header = [*swept, *(["differs"] if differs else []), *extra, "run"]
    rows = []
    for i, (job, v) in enumerate(zip(jobs, values)):
        row = [_short(v.get(k, "")) for k in swept]
        row += [differs[i] or ""] if differs else []
        row += [_format(summaries[i].get(c, "")) for c in extra]
        row.append(f"error: {job['error']}" if "error" in job else _short(job["run_dir"]))
        rows.append(row)
    return header, rows


class SweepSummary(Callback):
    """Prints and saves the sweep's table when the sweep ends."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        from sparsecli import ui

        folder = Path(str(config.hydra.sweep.dir))
        jobs = read_jobs(folder)
        failed_jobs[:] = [(job["exit_code"], job["error"]) for job in jobs if "error" in job]
        if not jobs:
            return
        header, rows = summarize(jobs)
        atomic_write_text(folder / SUMMARY, "\n".join("\t".join(row) for row in [header, *rows]) + "\n")
        failed = f"; {len(failed_jobs)} failed" if failed_jobs else ""
        ui.table(f"sweep of {len(rows)} runs{failed}", header, rows)
        ui.message(f"sweep recorded in {folder}")
