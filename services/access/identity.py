"""Who a Slack user is in Kubernetes: the identity map (reloaded when its file changes), the
Slack directory port and the demo users. The resolver (with its Redis cache) is in `resolver`.
"""

from __future__ import annotations

import difflib
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Protocol

import msgspec
import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from structlog.typing import FilteringBoundLogger

from services.errors import CostbotError

_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SLACK_USERGROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
Name = Annotated[str, Field(min_length=1)]


class IdentityMapError(CostbotError, ValueError):
    """The identity map is unreadable, not YAML, or not the documented shape. `problems` holds
    one line per problem (where, what is wrong, a suggestion); the message is them all, after
    the file's name, on one line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source, self.problems = source, problems
        super().__init__(f"{source}: " + "; ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserEntry(_Strict):
    user: Name
    groups: tuple[Name, ...] = ()


class EmailMapping(_Strict):
    enabled: bool = False
    domains: tuple[str, ...] = ()
    username_prefix: str = ""

    @field_validator("domains")
    @classmethod
    def _normal_domains(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        normal = tuple(domain.strip().lower().removeprefix("@") for domain in domains)
        for domain in normal:
            if not _DOMAIN.match(domain):
                raise ValueError(f"{domain!r} is not a domain name (e.g. example.com)")
        return normal


class IdentityMap(_Strict):
    """The parsed `IDENTITY_MAP_FILE` (format: docs/rbac.md)."""

    users: dict[str, UserEntry] = Field(default_factory=dict)
    usergroups: dict[str, tuple[Name, ...]] = Field(default_factory=dict)
    email: EmailMapping = EmailMapping()
    default_groups: tuple[Name, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_empty(cls, data: Any) -> Any:
        # `users:` with nothing under it is YAML null; treat it as "none configured".
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    @field_validator("users")
    @classmethod
    def _user_ids(cls, users: dict[str, UserEntry]) -> dict[str, UserEntry]:
        for key in users:
            if not _SLACK_USER_ID.match(key):
                raise ValueError(f"{key!r} is not a Slack user ID (like U0123ABCD)")
        return users

    @field_validator("usergroups")
    @classmethod
    def _usergroup_ids(cls, groups: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for key in groups:
            if not _SLACK_USERGROUP_ID.match(key):
                raise ValueError(f"{key!r} is not a Slack user group ID (like S0123ABCD)")
        return groups

    @model_validator(mode="after")
    def _email_needs_domains(self) -> IdentityMap:
        if self.email.enabled and not self.email.domains:
            raise ValueError(
                "email.enabled is true but email.domains is empty (list the domains you "
                "trust, like domains: [example.com], or set enabled: false)"
            )
        return self

    @classmethod
    def empty(cls) -> IdentityMap:
        """No file configured: everyone is unmapped."""
        return cls()

    @classmethod
    def from_yaml(cls, text: str, source: str = "identity map") -> IdentityMap:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise IdentityMapError(source, [_yaml_problem(exc)]) from exc
        if data is None:
            return cls.empty()
        if not isinstance(data, dict):
            raise IdentityMapError(
                source, ["the top level must be a mapping (users:, usergroups:, email:, …)"]
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise IdentityMapError(source, _describe(exc)) from exc

    @classmethod
    def load(cls, path: Path) -> IdentityMap:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise IdentityMapError(
                str(path), ["no such file; mount the identity map there or fix the path"]
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise IdentityMapError(str(path), [f"cannot read it ({reason})"]) from exc
        return cls.from_yaml(text, source=str(path))

    def groups_of_usergroups(self, usergroup_ids: Iterable[str]) -> set[str]:
        return {group for sid in usergroup_ids for group in self.usergroups.get(sid, ())}


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's several-line message as one line: what, and where."""
    problem = getattr(exc, "problem", None) or "cannot be parsed"
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML: {problem}{where} (check the indentation and the quotes)"


def _keys_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the map allows in the mapping at `loc` (for "did you mean")."""
    if not loc:
        return list(IdentityMap.model_fields)
    if loc[0] == "users" and len(loc) == 2:
        return list(UserEntry.model_fields)
    if loc[0] == "email" and len(loc) == 1:
        return list(EmailMapping.model_fields)
    return []


_HINTS = {
    "missing": "add it",
    "string_type": "write it as text, in quotes",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "tuple_type": "write a list, like [a, b]",
    "list_type": "write a list, like [a, b]",
    "dict_type": "write a mapping of key: value lines",
    "model_type": "write a mapping of key: value lines",
    "too_short": "leave it out or give it a value",
    "string_too_short": "give it a value or leave the entry out",
}


def _describe(exc: ValidationError) -> list[str]:
    """One line per problem: where in the map, what is wrong, and what to do about it."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            key, parent = str(loc[-1]), loc[:-1]
            place = "in " + ".".join(map(str, parent)) if parent else "at the top level"
            close = difflib.get_close_matches(key, _keys_at(parent), n=1, cutoff=0.6)
            hint = (
                f"did you mean `{close[0]}`?"
                if close
                else "known: " + ", ".join(f"`{k}`" for k in _keys_at(parent))
            )
            lines.append(f"unknown key `{key}` {place} ({hint})")
        elif kind == "missing":
            place = ".".join(map(str, loc[:-1])) or "the top level"
            lines.append(f"`{loc[-1]}` is missing in {place} (add it)")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            known = _HINTS.get(kind)
            where = ".".join(map(str, loc)) + ": " if loc else ""
            lines.append(f"{where}{message}" + (f" ({known})" if known else ""))
    return lines


# --- where the map comes from ---------------------------------------------------------------------
class MapProvider(Protocol):
    def current(self) -> IdentityMap: ...


class FixedMap:
    """A map that never changes (no file configured, demo mode, tests)."""

    def __init__(self, identity_map: IdentityMap) -> None:
        self._map = identity_map

    def current(self) -> IdentityMap:
        return self._map


class IdentityMapFile:
    """The map from a file, re-read when its inode, mtime or size changes (checked at most every
    `check_interval` seconds). A broken new file keeps the last good map and logs an error.
    ConfigMap mounts swap a symlink, which changes the inode we see through `stat`."""

    def __init__(
        self,
        path: Path,
        logger: FilteringBoundLogger | None = None,
        check_interval: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._log = logger or structlog.get_logger("costbot.identity")
        self._interval = check_interval
        self._monotonic = monotonic
        self._signature = self._stat()
        self._map = IdentityMap.load(path)  # a bad file at start-up stops start-up
        self._checked_at = monotonic()

    def current(self) -> IdentityMap:
        now = self._monotonic()
        if now - self._checked_at < self._interval:
            return self._map
        self._checked_at = now
        signature = self._stat()
        if signature != self._signature:
            self._signature = signature
            self._reload()
        return self._map

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def _reload(self) -> None:
        try:
            fresh = IdentityMap.load(self.path)
        except IdentityMapError as exc:
            self._log.error("identity_map.reload_failed", path=str(self.path), error=str(exc))
            return
        self._map = fresh
        self._log.info(
            "identity_map.reloaded",
            path=str(self.path),
            users=len(fresh.users),
            usergroups=len(fresh.usergroups),
            email_mapping=fresh.email.enabled,
        )


# --- the Slack side -----------------------------------------------------------------------------
class SlackUser(msgspec.Struct, frozen=True):
    id: str
    email: str | None = None
    deleted: bool = False
    is_bot: bool = False
    tz: str | None = None
    name: str = ""


class SlackDirectory(Protocol):
    async def user(self, user_id: str) -> SlackUser | None:
        """The Slack profile, or None when Slack does not know the user."""
        ...

    async def usergroups_of(self, user_id: str) -> list[str]:
        """IDs of the Slack user groups the user belongs to."""
        ...


class StaticSlackDirectory:
    """An in-memory directory (demo mode and tests)."""

    def __init__(
        self, users: Iterable[SlackUser], usergroups: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self._users = {user.id: user for user in users}
        self._members = {sid: set(members) for sid, members in (usergroups or {}).items()}
        self.calls = 0

    async def user(self, user_id: str) -> SlackUser | None:
        self.calls += 1
        return self._users.get(user_id)

    async def usergroups_of(self, user_id: str) -> list[str]:
        self.calls += 1
        return sorted(sid for sid, members in self._members.items() if user_id in members)
