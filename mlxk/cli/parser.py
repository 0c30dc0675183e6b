"""The argument parser. Only this and :mod:`mlxk.cli.main` load for every command."""

from __future__ import annotations

import argparse
from typing import NoReturn

from mlxk import __version__
from mlxk.errors import UsageError
from mlxk.server.settings import GROUP_OPTIONS, add_options, positive_int

COMMANDS = {
    "version": "version",
    "list": "listing",
    "show": "show",
    "health": "health",
    "rm": "remove",
    "pull": "pull",
    "run": "run",
    "embed": "embed",
    "clone": "clone",
    "convert": "convert",
    "push": "push",
    "demo": "demo",
    "serve": "serve",
    "server": "serve",
}


class Parser(argparse.ArgumentParser):
    """Raises instead of printing usage and exiting, so errors go through the sink."""

    def error(self, message: str) -> NoReturn:  # noqa: D401 - argparse API
        raise UsageError(
            f"{message} (see 'mlxk {self.prog.split()[-1]} --help')"
            if " " in self.prog
            else f"{message} (see 'mlxk --help')"
        )


def _reasoning_tokens_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reasoning-tokens",
        metavar="START,END",
        help="the markers around this model's reasoning, when its tokenizer does not say"
        " (also: ~/.config/mlxk/models.toml, the model folder's mlxk.json)",
    )


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON envelope on stdout")


def _sampling_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-tokens",
        type=positive_int,
        metavar="N",
        help="most tokens to generate (default: what the context leaves)",
    )
    p.add_argument(
        "--temperature", type=float, default=0.0, help="sampling temperature (default 0: greedy)"
    )
    p.add_argument(
        "--top-p", type=float, default=1.0, help="nucleus sampling threshold (default 1: off)"
    )
    p.add_argument(
        "--repetition-penalty", type=float, help="penalize repeated tokens (default: none)"
    )
    p.add_argument("--seed", type=int, help="random seed, for repeatable sampling (default: none)")
    p.add_argument(
        "--stop",
        action="append",
        default=[],
        help="stop before this text (repeatable; default: none)",
    )


def build_parser() -> Parser:
    parser = Parser(
        prog="mlxk",
        description="Manage and run MLX language models in the Hugging Face cache.",
    )
    parser.add_argument("--version", action="store_true", help="print the version")
    parser.add_argument(
        "--json",
        action="store_true",
        dest="global_json",
        help="print one JSON envelope on stdout (also accepted after the command)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("version", help="show versions of mlxk, mlx and mlx-lm")
    _json_flag(p)

    p = sub.add_parser("list", help="list cached models")
    p.add_argument("pattern", nargs="?", help="only models whose name contains this")
    p.add_argument("--all", action="store_true", help="include non-MLX and non-chat models")
    p.add_argument(
        "--framework",
        choices=["mlx", "gguf", "pytorch", "unknown"],
        type=str.lower,
        help="only models of this framework (implies --all)",
    )
    p.add_argument("--health", action="store_true", help="add health columns")
    p.add_argument("--verbose", "-v", action="store_true", help="full names and all MLX models")
    _json_flag(p)

    p = sub.add_parser("show", help="details of one model")
    p.add_argument("model", help="org/name, a short or partial name, optionally @revision")
    p.add_argument("--files", action="store_true", help="list the snapshot's files")
    p.add_argument("--config", action="store_true", help="print config.json")
    _json_flag(p)

    p = sub.add_parser("health", help="check models are complete and runnable")
    p.add_argument("model", nargs="?", help="the model to check (default: every cached model)")
    p.add_argument("--deep", action="store_true", help="also verify sizes and hashes")
    p.add_argument(
        "--all",
        action="store_true",
        help="check every cached model (what health does without MODEL; accepted as in 1.x)",
    )
    p.add_argument(
        "--hosts",
        metavar="HOSTFILE",
        help="check MODEL on every host of this mlx.launch hostfile (reachable, present,"
        " healthy, same mlx and mlxk) instead",
    )
    _json_flag(p)

    p = sub.add_parser("rm", help="remove a model (or one revision) from the cache")
    p.add_argument("model", help="the model, or MODEL@revision for one revision")
    p.add_argument(
        "-f",
        "--force",
        "-y",
        "--yes",
        action="store_true",
        dest="force",
        help="remove without asking (needed without a terminal)",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be removed")
    _json_flag(p)

    p = sub.add_parser("pull", help="download a model into the cache")
    p.add_argument(
        "model", help="org/name (a bare name means mlx-community/name), optionally @revision"
    )
    _json_flag(p)

    p = sub.add_parser("run", help="generate text with a model (chat when no prompt)")
    p.add_argument("model", help="org/name, a short or partial name, optionally @revision")
    p.add_argument("prompt", nargs="?", help="the prompt; '-' reads stdin; none starts a chat")
    p.add_argument(
        "instruction", nargs="?", help="after '-': added below what stdin gives ('summarise')"
    )
    p.add_argument("-i", "--interactive", action="store_true", help="chat, even with a prompt")
    p.add_argument("--system", help="system prompt (default: none)")
    p.add_argument("--no-chat-template", action="store_true", help="send the prompt raw")
    p.add_argument("--hide-reasoning", action="store_true", help="show only the answer")
    _reasoning_tokens_flag(p)
    p.add_argument(
        "--cpu-float32",
        choices=("auto", "always", "never"),
        default="auto",
        help="on a CPU, run quantized or half-precision weights from a float32 copy:"
        " when it fits (auto, default), always, or never",
    )
    p.add_argument("--no-stream", action="store_true", help="print the answer when done")
    p.add_argument("--verbose", action="store_true", help="print timings to stderr")
    add_options(p, only=GROUP_OPTIONS)
    shaped = p.add_mutually_exclusive_group()
    shaped.add_argument(
        "--schema", metavar="FILE", help="answer with JSON valid against this JSON Schema file"
    )
    shaped.add_argument("--json-object", action="store_true", help="answer with a JSON object")
    _sampling_flags(p)
    _json_flag(p)

    p = sub.add_parser("clone", help="copy a cached model into a folder (verified, resumable)")
    p.add_argument("model", help="org/name, a short or partial name, optionally @revision")
    p.add_argument("target", metavar="DST", help="a new or empty folder outside the cache")
    _json_flag(p)

    p = sub.add_parser("convert", help="convert or quantize a model into a folder (mlx-lm)")
    p.add_argument("source", metavar="SRC", help="a cached model, or a model folder's path")
    p.add_argument("target", metavar="DST", help="a new folder outside the cache")
    p.add_argument("--quantize", "-q", action="store_true", help="quantize (4 bits by default)")
    p.add_argument("--q-bits", type=int, choices=(2, 3, 4, 5, 6, 8), help="bits per weight")
    p.add_argument("--q-group-size", type=int, choices=(32, 64, 128), help="group size (64)")
    p.add_argument("--q-mode", choices=("affine", "mxfp4"), default="affine", help="scheme")
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), help="float type")
    p.add_argument("--force", action="store_true", help="replace DST if it is a model folder")
    _json_flag(p)

    p = sub.add_parser("push", help="upload a model folder to the Hub (huggingface_hub)")
    p.add_argument("folder", metavar="FOLDER", help="the model folder, by its path")
    p.add_argument("repo", metavar="ORG/NAME", help="the Hub repo (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", help="the branch to commit to (default main)")
    p.add_argument("--dry-run", action="store_true", help="list what would be sent, send nothing")
    _json_flag(p)

    p = sub.add_parser("embed", help="embedding vectors of texts (JSON Lines)")
    p.add_argument("model", help="an embedding model: org/name, a short or partial name")
    p.add_argument("texts", nargs="*", help="texts to embed; none reads one per line from stdin")
    p.add_argument(
        "--dimensions", type=int, metavar="N", help="cut the vectors to N (Matryoshka models)"
    )
    p.add_argument("--batch-size", type=int, metavar="N", help="texts per forward pass (32)")
    p.add_argument(
        "--truncate", action="store_true", help="cut texts over the model's length, not refuse"
    )
    _json_flag(p)

    for name in ("serve", "server"):
        p = sub.add_parser(
            name,
            help="OpenAI-compatible server and chat page" if name == "serve" else "alias of serve",
        )
        add_options(p)
        p.add_argument(
            "--no-supervise",
            dest="supervise",
            action="store_false",
            help="run in this process (no restart on crash)",
        )
        _json_flag(p)

    p = sub.add_parser("demo", help="write tiny demo models to the cache and run one")
    p.add_argument("--reasoning", action="store_true", help="use the reasoning demo model")
    p.add_argument(
        "--prompt", default="Hello! Who are you?", help="what to ask (default: a greeting)"
    )
    _json_flag(p)
    return parser


def version_text() -> str:
    return f"mlxk {__version__}"
