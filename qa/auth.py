"""Who may use a served chat: the login file, and which addresses need a login at all.

On loopback (127.0.0.1, ::1, localhost) only the machine itself reaches the chat, so it serves
without a login. Any other address publishes the archive, the API and the feedback log to the
network: `qa serve` then refuses to start unless `--auth-file FILE` puts page and API behind
Gradio's login, or `--no-auth` says the open server is intended.
"""

from __future__ import annotations

import hmac
import ipaddress
import stat
from pathlib import Path

from qa.errors import InvalidInput

AUTH_FILE_HELP = "one `user:password` per line, readable only by you (`chmod 600 FILE`)"


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the server reachable from this machine only."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name (or 0.0.0.0-like wildcard text): assume it is public
        return False


def check_exposure(host: str, auth_file: Path | None, no_auth: bool) -> None:
    """Refuse to serve on a network address without a login, unless `--no-auth` insists."""
    if auth_file is not None or no_auth or is_loopback(host):
        return
    raise InvalidInput(
        f"--host {host} would publish the archive, its API and the feedback log to the network "
        f"without a login: add `--auth-file FILE` ({AUTH_FILE_HELP}), or `--no-auth` to serve "
        "it open anyway"
    )


def read_auth_file(path: Path) -> dict[str, str]:
    """The users and passwords of a login file (`user:password` lines; blank and `#` lines are
    skipped). Refused when missing, readable or writable by group or others, or malformed;
    messages never repeat a password."""
    try:
        info = path.stat()
    except OSError as err:
        raise InvalidInput(
            f"cannot read --auth-file {path}: {err.strerror}; create it with {AUTH_FILE_HELP}"
        ) from err
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"--auth-file {path} is not a file: give a file with {AUTH_FILE_HELP}")
    if info.st_mode & 0o077:
        raise InvalidInput(
            f"--auth-file {path} is open to other users (mode {stat.S_IMODE(info.st_mode):o}): "
            f"it holds passwords, so restrict it with `chmod 600 {path}`"
        )
    try:
        text = path.read_text("utf-8")
    except OSError as err:
        raise InvalidInput(f"cannot read --auth-file {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise InvalidInput(f"--auth-file {path} is not UTF-8 text: save it as UTF-8") from err
    users: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        user = user.strip()
        if not sep or not user or not password:
            raise InvalidInput(
                f"--auth-file {path}, line {n}: not `user:password` (both parts non-empty)"
            )
        if user in users:
            raise InvalidInput(f"--auth-file {path}, line {n}: user {user!r} appears twice")
        users[user] = password
    if not users:
        raise InvalidInput(f"--auth-file {path} holds no `user:password` line")
    return users


class Login:
    """Gradio's `auth` callable: checks a user name and password in constant time."""

    def __init__(self, users: dict[str, str]):
        self._users = {u.encode(): p.encode() for u, p in users.items()}

    def __call__(self, username: str, password: str) -> bool:
        expected = self._users.get((username or "").encode())
        # Compare against something even for an unknown user, so timing tells nothing.
        ok = hmac.compare_digest(expected or b"\x00" * 32, (password or "").encode())
        return expected is not None and ok
