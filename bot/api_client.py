"""`costbot api get PATH`: call costbot's HTTP API from a script, as yourself.

The token is `--token`, else the current user's token in KUBECONFIG (a `token` or `tokenFile`
entry; exec plugins and client certificates cannot be sent to costbot). It is only ever put in
the Authorization header: never printed, never in the URL.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TextIO

import httpx
import yaml

DEFAULT_URL = "http://127.0.0.1:3000"


class ClientError(Exception):
    """A plain one-line reason the call could not be made."""


def kubeconfig_token(path: str | None = None) -> str:
    """The bearer token of the current context's user in the kubeconfig."""
    chosen = path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    file = Path(chosen) if chosen else Path("~/.kube/config").expanduser()
    try:
        document: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ClientError(f"cannot read kubeconfig {file}: {type(exc).__name__}") from exc
    if not isinstance(document, dict):
        raise ClientError(f"{file} is not a kubeconfig")
    current = document.get("current-context")
    contexts = {c.get("name"): c.get("context") or {} for c in document.get("contexts") or []}
    users = {u.get("name"): u.get("user") or {} for u in document.get("users") or []}
    user = users.get(contexts.get(current, {}).get("user"), {})
    if isinstance(user.get("token"), str) and user["token"]:
        return str(user["token"])
    if isinstance(user.get("tokenFile"), str):
        try:
            return Path(user["tokenFile"]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ClientError(f"cannot read the kubeconfig's tokenFile: {exc.strerror}") from exc
    raise ClientError(
        "the kubeconfig's current user has no token; pass --token "
        '"$(kubectl create token SA --audience costbot)"'
    )


def api_get(
    path: str,
    *,
    token: str | None,
    url: str | None,
    csv: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """GET `path` (`/api/v1/…`, or `v1/…`); the body goes to `out`. 0 on 2xx, else 1."""
    try:
        bearer = token or kubeconfig_token()
    except ClientError as exc:
        print(f"costbot api: {exc}", file=err)
        return 2
    base = (url or os.environ.get("COSTBOT_URL") or DEFAULT_URL).rstrip("/")
    target = path if path.startswith("/api/") else "/api/" + path.lstrip("/")
    headers = {
        "Authorization": f"Bearer {bearer}",
        "Accept": "text/csv" if csv else "application/json",
    }
    try:
        with httpx.Client(base_url=base, timeout=30, transport=transport) as client:
            response = client.get(target, headers=headers)
    except httpx.HTTPError as exc:
        print(f"costbot api: cannot reach {base}: {type(exc).__name__}", file=err)
        return 1
    if response.is_success:
        out.write(response.text if response.text.endswith("\n") else response.text + "\n")
        return 0
    detail = response.text
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        detail = str(response.json().get("detail", ""))
    print(f"costbot api: {response.status_code} {detail}".rstrip(), file=err)
    return 1
