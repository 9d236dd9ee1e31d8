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
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from imprimatur_client import __version__
from imprimatur_client.chain import check_export
from imprimatur_client.client import (
    AuthError,
    Client,
    Conflict,
    ImprimaturError,
    Invalid,
    NotFound,
)
from imprimatur_client.config import ConfigError, config_path, settings, write_file

OK, FAILED, USAGE, AUTH, NOT_FOUND, SERVER = 0, 1, 2, 3, 4, 5

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


class Output:
    """Human lines on stdout, or one JSON document with --json; notes on stderr."""

    def __init__(self, as_json: bool):
        self.as_json = as_json

    def result(self, data: Any, text: str) -> None:
        if self.as_json:
            json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            print(text)

    @staticmethod
    def note(text: str) -> None:
        print(text, file=sys.stderr)


def _client(args) -> Client:
    current = settings(args.url)
    if not current.token:
        raise AuthError(
            401,
            "No token: run `imprimatur login`, or set IMPRIMATUR_TOKEN "
            f"(config file: {config_path()}).",
        )
    return Client(current.url, current.token, timeout=args.http_timeout)


# --- Commands -----------------------------------------------------------------------------


def cmd_login(args, out: Output) -> int:
    url = settings(args.url).url
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {args.username} at {url}: ")
    with Client(url, timeout=args.http_timeout) as client:
        try:
            token = client.token_obtain(args.username, password)
        except Invalid as refused:  # the endpoint answers 400 for wrong credentials
            raise AuthError(refused.status, str(refused), refused.code, refused.errors) from None
    path = write_file(url, token)
    out.result(
        {"url": url, "username": args.username, "config": str(path)},
        f"Logged in to {url} as {args.username}; token saved in {path} (mode 0600).",
    )
    return OK


def _request_line(request: dict) -> str:
    line = f"Request {request['id']} ({request['project']}): {request['status']}"
    if request.get("error"):
        line += f" — {request['error']}"
    assets = request.get("assets") or []
    if assets:
        line += "\n" + "\n".join(
            f"  asset {a['id']}: {a['status']}, checks {a['check_verdict'] or 'pending'}"
            for a in assets
        )
    return line


def _request_result(request: dict) -> int:
    return OK if request["status"] == "succeeded" else FAILED


def cmd_submit(args, out: Output) -> int:
    params = {
        name: getattr(args, name)
        for name in (
            "negative_prompt",
            "model",
            "width",
            "height",
            "steps",
            "guidance_scale",
            "seed",
            "num_images",
        )
    }
    with _client(args) as client:
        request = client.submit(args.project, args.prompt, **params)
        if not args.wait:
            out.result(request, _request_line(request))
            return OK
        request = _wait(client, request["id"], args, out)
    out.result(request, _request_line(request))
    return _request_result(request)


def _wait(client: Client, request_id: int, args, out: Output) -> dict:
    bar = None
    show = args.progress or (not args.no_progress and sys.stderr.isatty())
    if show:
        from tqdm import tqdm

        bar = tqdm(total=1, unit="step", desc=f"request {request_id}", file=sys.stderr)

    def on_progress(request: dict) -> None:
        if bar is None:
            return
        progress = request["progress"]
        bar.total = max(progress["total"] or 1, 1)
        bar.n = min(progress["step"], bar.total)
        bar.set_postfix_str(request["status"], refresh=False)
        bar.refresh()

    try:
        return client.wait(
            request_id, timeout=args.timeout, interval=args.interval, on_progress=on_progress
        )
    finally:
        if bar is not None:
            bar.close()


def cmd_wait(args, out: Output) -> int:
    with _client(args) as client:
        request = _wait(client, args.request_id, args, out)
    out.result(request, _request_line(request))
    return _request_result(request)


def cmd_status(args, out: Output) -> int:
    with _client(args) as client:
        request = client.request(args.request_id)
    out.result(request, _request_line(request))
    return OK


def _download_one(client: Client, asset: dict, target: Path, which: str) -> dict:
    url = asset["published_url"] if which != "original" else asset["url"]
    if which == "auto" and not url:
        url = asset["url"]
    if not url:
        reason = "no approved version yet" if which == "published" else "not yours to see"
        raise NotFound(404, f"Asset {asset['id']} has no file to download: {reason}.")
    kind = "published" if url == asset["published_url"] else "original"
    with open(target, "wb") as stream:
        size = client.download(url, stream)
    return {"asset": asset["id"], "file": str(target), "bytes": size, "version": kind}


def cmd_download(args, out: Output) -> int:
    with _client(args) as client:
        if args.request:
            assets = client.request(args.id)["assets"]
            folder = Path(args.output or ".")
            folder.mkdir(parents=True, exist_ok=True)
            targets = [
                (asset, folder / f"imprimatur-request{args.id}-{asset['index'] + 1}.png")
                for asset in assets
            ]
        else:
            asset = client.asset(args.id)
            name = f"imprimatur-asset{asset['id']}.png"
            target = Path(args.output) if args.output else Path(name)
            if target.is_dir():
                target = target / name
            targets = [(asset, target)]
        done = [_download_one(client, asset, target, args.version) for asset, target in targets]
    out.result(
        done,
        "\n".join(
            f"{d['file']}: asset {d['asset']} ({d['version']}, {d['bytes']} bytes)" for d in done
        )
        or "No images.",
    )
    return OK


def cmd_verify(args, out: Output) -> int:
    if not args.file.is_file():
        raise Invalid(400, f"{args.file}: no such file.")
    with _client(args) as client:
        result = client.verify(args.file)
    status = result["report"]["status"]
    out.result(result, f"{args.file}: {status}. {result['summary']}")
    return OK if status == "trusted" else FAILED


def cmd_reviews_list(args, out: Output) -> int:
    with _client(args) as client:
        tasks = client.tasks()
    lines = [
        f"{t['id']:>6}  {t['kind']:<6} {t['project']:<20} stage {t['stage_index'] + 1}/"
        f"{t['stages']} ({t['role']})  {t['title']}"
        for t in tasks
    ]
    out.result(tasks, "\n".join(lines) if lines else "No open tasks for you.")
    return OK


def cmd_reviews_decide(args, out: Output) -> int:
    decision = {"approve": "approve", "reject": "reject", "changes": "changes"}[args.decision]
    with _client(args) as client:
        task = client.decide(args.task_id, decision, args.comment)
    out.result(
        task,
        f"Task {task['id']} ({task['title']}): {task['status']}; review {task['review_status']}.",
    )
    return OK


def cmd_audit_export(args, out: Output) -> int:
    filters = {
        "since": args.since,
        "until": args.until,
        "action": args.action,
        "project": args.project,
    }
    with _client(args) as client:
        if args.output == "-":
            client.audit_export(sys.stdout.buffer, args.format, **filters)
            return OK
        with open(args.output, "wb") as stream:
            size = client.audit_export(stream, args.format, **filters)
    out.result(
        {"file": args.output, "bytes": size, "format": args.format},
        f"{args.output}: {size} bytes of audit log ({args.format}).",
    )
    return OK


def cmd_audit_verify(args, out: Output) -> int:
    if args.file is not None:
        try:
            check = check_export(args.file, strict=args.strict)
        except (OSError, ValueError) as error:
            raise Invalid(400, f"{args.file}: {error}") from None
        data = {
            "file": str(args.file),
            "intact": check.intact,
            "checked": check.checked,
            "first_sequence": check.first_sequence,
            "last_sequence": check.last_sequence,
            "gaps": check.gaps,
            "broken_sequence": check.broken_sequence,
            "reason": check.reason,
            "summary": str(check),
        }
        out.result(data, f"{args.file}: {check}")
        return OK if check.intact else FAILED
    with _client(args) as client:
        result = client.audit_verify()
    out.result(result, f"The audit log on the server is {result['summary']}.")
    return OK if result["intact"] else FAILED


def cmd_share(args, out: Output) -> int:
    with _client(args) as client:
        link = client.share_create(args.asset_id, args.hours)
    out.result(link, f"Share link {link['id']} until {link['expires_at']}: {link['url']}")
    return OK


def cmd_share_revoke(args, out: Output) -> int:
    with _client(args) as client:
        link = client.share_revoke(args.link_id)
    out.result(link, f"Share link {link['id']} revoked at {link['revoked_at']}.")
    return OK


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
    login.add_argument("--username", "-u", required=True)
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
    submit.add_argument("--prompt", required=True)
    submit.add_argument("--negative-prompt")
    submit.add_argument("--model", help="a model profile name (default: the project's first)")
    submit.add_argument("--width", type=int)
    submit.add_argument("--height", type=int)
    submit.add_argument("--steps", type=int)
    submit.add_argument("--guidance-scale", type=float)
    submit.add_argument("--seed", type=int)
    submit.add_argument("--num-images", type=int)
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
        "--version",
        dest="version",
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
        decide.add_argument("--comment", "-m", default="")
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
