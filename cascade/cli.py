"""`cascade` command line: one entry point whose subcommands build the same request objects as the API.

Only the chosen subcommand's module is imported, and none imports torch before it loads a model, so
`cascade --help` and argument errors answer at once. An expected failure (bad input, a refused prompt,
a missing model or device) is one line on stderr and exit 2; Ctrl-C is exit 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata

from cascade.errors import CascadeError

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    module: str  # defines the two functions below, imported only when this command is the one run
    add_arguments: str = "add_arguments"
    run: str = "run"

    def function(self, attribute: str):
        return getattr(importlib.import_module(self.module), attribute)


COMMANDS = (
    Command("generate", "render images from a prompt", "cascade.generate_cli"),
    Command("upscale", "upscale a picture with the super-resolution stages", "cascade.upscale_cli"),
    Command(
        "train",
        "train one stage of a demo cascade on the procedural world",
        "cascade.training.cli",
        "add_train_arguments",
        "run_train",
    ),
    Command(
        "export",
        "export trained runs as a model folder",
        "cascade.training.cli",
        "add_export_arguments",
        "run_export",
    ),
    Command(
        "eval", "measure a model or the filter: `cascade eval adherence|safety`", "cascade.evaluation.cli"
    ),
    Command(
        "render", "render a file of prompts to PNGs (resumable; --ray for a cluster)", "cascade.render.cli"
    ),
    # server.cli's argument definitions need no [server] extra, so `cascade serve --help` works everywhere.
    Command("serve", "run the HTTP service (OpenAI-compatible; docs/SERVER.md)", "server.cli"),
    Command(
        "watermark", "check images for the invisible watermark: `cascade watermark verify`", "safety.cli"
    ),
)
BY_NAME = {command.name: command for command in COMMANDS}


def version() -> str:
    return f"imagen-cascade {metadata.version('imagen-cascade')}"


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser, with arguments for the subcommand `argv` names (the others only list themselves)."""
    parser = argparse.ArgumentParser(prog="cascade", description="Cascaded text-to-image diffusion.")
    parser.add_argument("--version", action="version", version=version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        if command.name == chosen:
            command.function(command.add_arguments)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Loading bars from transformers and diffusers for every file of every model say nothing a user
    # needs; the commands draw their own progress. HF_HUB_DISABLE_PROGRESS_BARS=0 brings them back.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    args = build_parser(argv).parse_args(argv)
    command = BY_NAME[args.command]
    try:
        return command.function(command.run)(args)
    except CascadeError as error:
        print(f"cascade {args.command}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"cascade {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
