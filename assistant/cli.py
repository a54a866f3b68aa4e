"""The `assistant` command: one click group, a subcommand or subgroup per noun.

Each noun lives in its own module under ``assistant.commands`` and is imported only
when that command runs (or when help lists it), so ``assistant --help`` stays light:
no torch, no model.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field

import click

from assistant import fast_exit, runtime_env
from assistant.config import LoadedConfig, load_settings
from assistant.errors import AssistantError, disk_full_message, is_disk_full
from assistant.logs import attach_file_log, setup_logging

# nouns a running `assistant run` executes for the CLI (assistant.local_api)
FORWARDED = ("profile", "goals", "feeds", "digest", "jobs", "probe")

# noun -> "module:attribute"; each module registers exactly one click command or group.
COMMANDS: dict[str, str] = {
    "chat": "assistant.commands.chat:chat",
    "run": "assistant.commands.run:run",
    "digest": "assistant.commands.digest:digest",
    "probe": "assistant.commands.probe:probe",
    "profile": "assistant.commands.profile:profile",
    "goals": "assistant.commands.goals:goals",
    "feeds": "assistant.commands.feeds:feeds",
    "jobs": "assistant.commands.jobs:jobs",
    "slack": "assistant.commands.slack:slack",
    "graph": "assistant.commands.graph:graph",
    "doctor": "assistant.commands.doctor:doctor",
}


@dataclass
class AppContext:
    """What every command receives: the config path asked for, and settings on demand."""

    config_path: str | None = None
    _loaded: LoadedConfig | None = field(default=None, repr=False)

    @property
    def loaded(self) -> LoadedConfig:
        if self._loaded is None:
            self._loaded = load_settings(self.config_path)
            attach_file_log()
        return self._loaded


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def invoke(self, ctx: click.Context) -> object:
        # While `assistant run` is up it owns the data directory: these commands run inside it.
        args = [*ctx._protected_args, *ctx.args]
        if args and args[0] in FORWARDED and not {"-h", "--help"} & set(args):
            from assistant.app import serving

            if serving() is None:
                from assistant.local_api.client import forward

                code = forward(args)
                if code is not None:
                    ctx.exit(code)
        return super().invoke(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $ASSISTANT_CONFIG, ./config.toml, user config folder).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.version_option(package_name="purposeful-assistant")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, quiet: bool) -> None:
    """A personal assistant that keeps its purpose."""
    ctx.obj = AppContext(config_path=config_path)
    from assistant.app import serving

    if serving() is None:  # inside the service, its own logging stays as it is
        setup_logging(verbose=verbose, quiet=quiet)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    runtime_env.apply_defaults()  # before torch loads: OpenMP reads these once, at start-up
    code = run_command(argv)
    if argv is None and fast_exit.allowed():  # the real process, and its command closed its parts
        fast_exit.finish(code)
    sys.exit(code)


def run_command(argv: list[str] | None) -> int:
    """Run `assistant ARGV`; errors become one line on stderr and the exit code returned
    (the service runs forwarded commands through this too, so both print the same)."""
    try:
        code = cli.main(args=argv, prog_name="assistant", standalone_mode=False)
    except AssistantError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        click.echo(f"error: {disk_full_message('the data directory')}", err=True)
        return 1
    # with standalone_mode=False click returns ctx.exit()'s code instead of exiting
    return code if isinstance(code, int) else 0


def app_context(ctx: click.Context) -> AppContext:
    """The AppContext of the running command (for command modules)."""
    obj = ctx.find_object(AppContext)
    if obj is None:  # command invoked outside the group, e.g. in a test
        obj = AppContext()
        ctx.obj = obj
    return obj
