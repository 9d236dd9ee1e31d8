"""``imprimatur``: the Imprimatur API from the command line.

Exit status (the same for every command):
  0  done (a request that succeeded, an image that verified as trusted, an intact log)
  1  what was asked failed: a request failed, was rejected or cancelled; an image that is
     not trusted; a broken audit log; a conflict (a task someone else decided)
  2  usage error, or input the server refused (400: the fields are named)
  3  authentication or permission: no token, a bad token, a role that may not do this
  4  not found (or another organisation's: the API does not tell them apart)
  5  the server failed or did not answer (5xx, 429, connection refused, timeout), or
     --timeout passed while waiting
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from imprimatur_client import __version__
from imprimatur_client.client import AuthError, Conflict, ImprimaturError, Invalid, NotFound
from imprimatur_client.commands import (
    AUTH,
    FAILED,
    NOT_FOUND,
    OK,
    SERVER,
    USAGE,
    Output,
    cmd_audit_export,
    cmd_audit_verify,
    cmd_download,
    cmd_login,
    cmd_reviews_decide,
    cmd_reviews_list,
    cmd_share,
    cmd_share_revoke,
    cmd_status,
    cmd_submit,
    cmd_verify,
    cmd_wait,
)
from imprimatur_client.config import ConfigError

EPILOG = """\
environment:
  IMPRIMATUR_URL     the server (default http://127.0.0.1:8000, or the config file's url)
  IMPRIMATUR_TOKEN   the API token (else the config file's token)
  IMPRIMATUR_CONFIG  the config file (default ~/.config/imprimatur/config.toml, mode 0600)

exit status:
  0 done; 1 what was asked failed (request failed/rejected/cancelled, image not trusted,
  audit log broken, conflict); 2 usage error or input refused (400); 3 authentication or
  permission (401/403); 4 not found (404); 5 server error, no answer, or --timeout passed
"""


# --- The parser ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    common.add_argument("--url", help="the server (default: IMPRIMATUR_URL, the config file)")
    common.add_argument(
        "--http-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up on one HTTP call after this long (default 60)",
    )
    top = argparse.ArgumentParser(
        prog="imprimatur",
        description="The Imprimatur API from the command line: generate, review, download, "
        "verify, audit.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, parent=commands, **kwargs):
        return parent.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kwargs,
        )

    login = command(
        "login",
        "Exchange a username and password for an API token and save it "
        "(with the server's URL) in the config file, mode 0600.",
    )
    login.add_argument("--username", "-u", required=True, help="your username")
    login.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input, not a prompt",
    )
    login.set_defaults(run=cmd_login)

    def wait_options(sub):
        sub.add_argument(
            "--timeout",
            type=float,
            default=600.0,
            metavar="SECONDS",
            help="give up waiting after this long (default 600; exit 5)",
        )
        sub.add_argument(
            "--interval",
            type=float,
            default=1.0,
            metavar="SECONDS",
            help="poll this often (default 1)",
        )
        sub.add_argument(
            "--progress",
            action="store_true",
            help="show the progress bar even when stderr is not a terminal",
        )
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")

    submit = command(
        "submit",
        "Submit a generation request to a project; with --wait, follow "
        "it to its end with a progress bar (exit 1 unless it succeeded).",
    )
    submit.add_argument("--project", "-p", required=True, help="the project's slug")
    submit.add_argument("--prompt", required=True, help="what to draw (checked by the policies)")
    submit.add_argument("--negative-prompt", help="what to avoid")
    submit.add_argument("--model", help="a model profile name (default: the project's first)")
    submit.add_argument("--width", type=int, help="pixels: one of the model's sizes")
    submit.add_argument("--height", type=int, help="pixels: one of the model's sizes")
    submit.add_argument("--steps", type=int, help="denoising steps (the model's default)")
    submit.add_argument("--guidance-scale", type=float, help="prompt guidance")
    submit.add_argument("--seed", type=int, help="image i uses seed + i (random if absent)")
    submit.add_argument("--num-images", type=int, help="how many images (default 1)")
    submit.add_argument("--wait", action="store_true", help="wait until the request has ended")
    wait_options(submit)
    submit.set_defaults(run=cmd_submit)

    wait = command(
        "wait", "Wait for a request to end, with a progress bar (exit 1 unless it succeeded)."
    )
    wait.add_argument("request_id", type=int, metavar="REQUEST")
    wait_options(wait)
    wait.set_defaults(run=cmd_wait)

    status = command("status", "Show a request: its status, progress and images.")
    status.add_argument("request_id", type=int, metavar="REQUEST")
    status.set_defaults(run=cmd_status)

    download = command(
        "download",
        "Download an image: its approved (published) version when "
        "there is one, else the generated one; or every image of a request.",
    )
    download.add_argument(
        "id", type=int, metavar="ID", help="an asset id (a request's with --request)"
    )
    download.add_argument("--request", action="store_true", help="ID is a request: all its images")
    download.add_argument("--output", "-o", help="file or folder (default: the current folder)")
    download.add_argument(
        "--which",
        dest="which",
        default="auto",
        choices=["auto", "published", "original"],
        help="auto (default): published if approved, else original",
    )
    download.set_defaults(run=cmd_download)

    verify = command(
        "verify",
        "Verify an image file on the server: its C2PA manifest and "
        "which of your images it is (exit 1 unless trusted).",
    )
    verify.add_argument("file", type=Path, metavar="FILE")
    verify.set_defaults(run=cmd_verify)

    reviews = commands.add_parser(
        "reviews",
        help="Review tasks: list, approve, reject.",
        description="Review tasks that your roles decide.",
    )
    review_commands = reviews.add_subparsers(
        dest="reviews_command", required=True, metavar="ACTION"
    )
    listing = command(
        "list",
        "List the open tasks your roles decide (not your own requests').",
        parent=review_commands,
    )
    listing.set_defaults(run=cmd_reviews_list)
    for decision, text in (
        ("approve", "Approve a task."),
        ("reject", "Reject a task."),
        ("changes", "Ask for changes (a prompt review)."),
    ):
        decide = command(
            decision, text + " Exit 1 when someone decided it first.", parent=review_commands
        )
        decide.add_argument("task_id", type=int, metavar="TASK")
        decide.add_argument("--comment", "-m", default="", help="why (kept with the decision)")
        decide.set_defaults(run=cmd_reviews_decide, decision=decision)

    audit = commands.add_parser(
        "audit",
        help="The audit log: export, verify.",
        description="The audit log (auditors and admins).",
    )
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    export = command(
        "export",
        "Export the audit log of your organisations (JSON Lines with "
        "the hashes, or CSV); the export is itself audited.",
        parent=audit_commands,
    )
    export.add_argument(
        "--output",
        "-o",
        default="imprimatur-audit.jsonl",
        help="the file, or - for standard output (default imprimatur-audit.jsonl)",
    )
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--since", help="YYYY-MM-DD or a date and time")
    export.add_argument("--until", help="YYYY-MM-DD (inclusive) or a date and time")
    export.add_argument("--action", help="an action or its prefix, e.g. generation.")
    export.add_argument("--project", help="a project's slug")
    export.set_defaults(run=cmd_audit_export)
    check = command(
        "verify",
        "With FILE: recompute every hash and link of a JSON Lines export "
        "here. Without: the server walks the whole chain and its signed "
        "checkpoints. Exit 1 when broken.",
        parent=audit_commands,
    )
    check.add_argument("file", type=Path, nargs="?", metavar="FILE")
    check.add_argument(
        "--strict",
        action="store_true",
        help="FILE must be the whole chain: no gaps (admins' unfiltered export)",
    )
    check.set_defaults(run=cmd_audit_verify)

    share = command(
        "share",
        "Create a share link for an approved image: anyone with it "
        "downloads the published file until it expires (compliance and admins; "
        "the organisation must allow share links).",
    )
    share.add_argument("asset_id", type=int, metavar="ASSET")
    share.add_argument("--hours", type=int, default=24, help="valid for this long (default 24)")
    share.set_defaults(run=cmd_share)
    unshare = command("unshare", "Revoke a share link.")
    unshare.add_argument("link_id", type=int, metavar="LINK")
    unshare.set_defaults(run=cmd_share_revoke)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = Output(args.json)
    try:
        return args.run(args, out)
    except ConfigError as error:
        out.note(f"imprimatur: {error}")
        return USAGE
    except TimeoutError as error:
        out.note(f"imprimatur: {error}")
        return SERVER
    except ImprimaturError as error:
        out.note(f"imprimatur: {error}")
        if args.json:
            out.result(
                {
                    "status": error.status,
                    "code": error.code,
                    "detail": error.detail,
                    "errors": error.errors,
                },
                "",
            )
        if isinstance(error, AuthError):
            return AUTH
        if isinstance(error, NotFound):
            return NOT_FOUND
        if isinstance(error, Invalid):
            return USAGE
        if isinstance(error, Conflict):
            return FAILED
        return SERVER if error.status == 0 or error.status >= 429 else FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK


if __name__ == "__main__":
    sys.exit(main())
