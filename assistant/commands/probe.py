"""`assistant probe`: the instruction-stability benchmark (run, report, history, cases)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from assistant.cli import app_context


@click.group()
def probe() -> None:
    """Measure whether the model still obeys its system prompt after many rounds."""


@probe.command("run")
@click.option("--rounds", type=click.IntRange(0, 50), default=None, help="Self-chat rounds (default: probes.rounds).")
@click.option("--controls", "controls", multiple=True, metavar="SPEC",
              help="Drift control, repeatable: none, split_softmax[:k=0.5,span=turn], repeat_system, "
                   "cfg[:g=1.5], or 'all' for the full grid (default: probes.controls).")  # fmt: skip
@click.option("--family", "families", multiple=True, help="Only cases of this family (repeatable).")
@click.option("--cases", type=click.IntRange(1), default=None, help="Sample this many suite cases (seeded).")
@click.option("--samples", type=click.IntRange(1), default=None, help="Answers per probe (sampling only).")
@click.option("--seed", type=int, default=None, help="Base seed (default: probes.seed).")
@click.option("--max-new-tokens", type=click.IntRange(1), default=None, help="Reply budget per turn.")
@click.option("--no-persona", is_flag=True, help="Leave out the configured persona's own probes.")
@click.option("--no-general", is_flag=True, help="Skip the general-ability questions.")
@click.pass_context
def run_cmd(
    ctx: click.Context, rounds: int | None, controls: tuple[str, ...], families: tuple[str, ...],
    cases: int | None, samples: int | None, seed: int | None, max_new_tokens: int | None,
    no_persona: bool, no_general: bool,
) -> None:  # fmt: skip
    """Run self-chat under each drift control and save the record, plot and report."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from assistant.app import command_app
    from assistant.probes.benchmark import run_benchmark
    from assistant.probes.controls import parse_controls
    from assistant.probes.history import save_run
    from assistant.probes.report import tradeoff_table

    settings = app_context(ctx).loaded.settings
    specs = [s for spec in controls for s in spec.split()] or None
    if specs:
        parse_controls(specs, settings)  # fail on a typo before loading the model
    console = Console(stderr=True)
    with command_app(settings) as app:
        engine = app.llm  # the probe never opens memory
    command = _command_line(ctx)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:  # fmt: skip
        task = bar.add_task("loading", total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        record = run_benchmark(
            settings, engine, controls=specs, families=families, cases=cases, rounds=rounds,
            samples=samples, seed=seed, max_new_tokens=max_new_tokens, persona=not no_persona,
            general=not no_general, command=command, progress=progress,
        )  # fmt: skip
    files = save_run(record)
    click.echo(tradeoff_table(record))
    click.echo(f"\nseed {record['options']['seed']}, {len(record['cases'])} cases, "
               f"rounds {record['options']['rounds']}, {record['seconds']:.0f} s")  # fmt: skip
    for kind, path in files.items():
        click.echo(f"{kind}: {path}")


def _command_line(ctx: click.Context) -> str:
    """The `assistant probe run` line that reproduces this run (options as given)."""
    parts = ["assistant", "probe", "run"]
    flags = {"families": "--family"}
    for name, value in ctx.params.items():
        flag = flags.get(name, "--" + name.replace("_", "-"))
        if value in (None, False, ()):
            continue
        if isinstance(value, tuple):
            parts += [x for v in value for x in (flag, shlex.quote(v))]
        elif value is True:
            parts.append(flag)
        else:
            parts += [flag, str(value)]
    if ctx.find_root().params.get("config_path"):
        parts[1:1] = ["--config", shlex.quote(str(ctx.find_root().params["config_path"]))]
    return " ".join(parts)


@probe.command("report")
@click.argument("run_id", required=False)
@click.option("--open", "open_", is_flag=True, help="Open the plot (and report) with the system viewer.")
def report_cmd(run_id: str | None, open_: bool) -> None:
    """Show the report of the latest run (or RUN_ID)."""
    from assistant.probes.history import find_run
    from assistant.probes.report import render_markdown

    record = find_run(run_id)
    files = record.get("files", {})
    md = files.get("md")
    click.echo(Path(md).read_text(encoding="utf-8") if md and Path(md).is_file() else render_markdown(record))
    if open_:
        for key in ("png", "md"):
            if files.get(key) and Path(files[key]).is_file():
                click.launch(files[key])


@probe.command("history")
@click.option("--limit", type=click.IntRange(1), default=20, help="How many recent runs to list.")
def history_cmd(limit: int) -> None:
    """List past runs: date, kind, size, last-round stability per control, alerts."""
    from rich.console import Console
    from rich.table import Table

    from assistant.probes.history import list_runs
    from assistant.probes.verdict import verdict

    runs = list_runs()[-limit:]
    if not runs:
        click.echo("no probe runs yet; run `assistant probe run`")
        return
    ids = [str(r.get("id", "")) for r in runs]
    dates = [str(r.get("date", "")) for r in runs]
    table = Table()
    # ids and dates in full (a run id is what `probe report` takes); the scores column wraps instead
    table.add_column("id", no_wrap=True, min_width=max(map(len, ids)))
    table.add_column("date", no_wrap=True, min_width=max(map(len, dates)))
    for name in ("kind", "cases", "rounds"):
        table.add_column(name)
    table.add_column("last round per control", overflow="fold")
    table.add_column("alert")
    for r, run_id, date in zip(runs, ids, dates, strict=True):
        per = ", ".join(f"{c['label']} {c['last_round']['mean']:.2f}" for c in r["controls"] if c.get("last_round"))
        table.add_row(run_id, date, r["kind"], str(len(r["cases"])), str(r["options"]["rounds"]), per,
                      "yes" if r.get("alert") else "")  # fmt: skip
    Console(width=max(Console().width, max(map(len, ids)) + max(map(len, dates)) + 70)).print(table)
    latest = runs[-1]
    click.echo(f"latest ({latest.get('id')}): {latest.get('verdict') or verdict(latest)}")


@probe.command("cases")
@click.option("--family", "families", multiple=True, help="Only this family (repeatable).")
@click.pass_context
def cases_cmd(ctx: click.Context, families: tuple[str, ...]) -> None:
    """List the probe cases (shipped suite, extra suites, persona probes); validates them."""
    from assistant.probes.benchmark import pick_cases

    settings = app_context(ctx).loaded.settings
    for case in pick_cases(settings, families=families):
        click.echo(f"{case.id:24} {case.family:9} {case.judge:14} {case.probe}")
