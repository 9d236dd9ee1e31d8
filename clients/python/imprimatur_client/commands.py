"""The commands of ``imprimatur``: each takes the parsed arguments and an Output and returns
the exit status (cli.py has the parser, the exit statuses and main)."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

from imprimatur_client.chain import check_export
from imprimatur_client.client import AuthError, Client, Invalid, NotFound
from imprimatur_client.config import config_path, settings, write_file

OK, FAILED, USAGE, AUTH, NOT_FOUND, SERVER = 0, 1, 2, 3, 4, 5


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
        done = [_download_one(client, asset, target, args.which) for asset, target in targets]
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
