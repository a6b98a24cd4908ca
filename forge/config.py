"""Settings for forge, read from the environment and FORGE_HOME, and nothing else.

Every environment variable forge reads is listed in `ENVIRONMENT` below and in README.md.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

ENVIRONMENT = {
    "FORGE_HOME": "directory holding the database, repositories, Redis socket, logs (./instance)",
    "DATABASE_URL": "SQLAlchemy URL of the database (sqlite:///$FORGE_HOME/forge.db)",
    "FORGE_DB_BUSY_TIMEOUT_MS": "how long a request waits for another connection's SQLite lock "
    "before giving up (a page or the API then answers 503), in milliseconds (30000)",
    "REDIS_URL": "Redis for the job queue (unset: an embedded Redis under $FORGE_HOME)",
    "SECRET_KEY": "signs sessions and CSRF tokens (unset: generated once into $FORGE_HOME)",
    "FORGE_BASE_URL": "external URL of the forge, for links in API answers (from the request); "
    "https:// makes cookies Secure",
    "FORGE_PROXY_COUNT": "reverse proxies in front of forge whose X-Forwarded-For, -Proto and "
    "-Host are trusted for the client's address and the URL scheme (0: none)",
    "FORGE_WORKERS": "web worker processes started by `forge serve` (2)",
    "FORGE_MAX_BODY_MB": "largest request body (a push's pack) accepted, in MiB (1024)",
    "FORGE_MAX_FILE_MB": "largest file a push may contain, in MiB (100)",
    "FORGE_MAX_ASSET_MB": "largest file that may be uploaded to a release, in MiB; assets are "
    "kept in $FORGE_HOME/releases (256)",
    "FORGE_PAGE_CACHE_MB": "disk the page cache ($FORGE_HOME/cache: last commits, path "
    "histories, blames, diffs, long files highlighted) may fill, in MiB; the least recently "
    "used go first; 0 turns it off (512)",
    "FORGE_MAX_API_BODY_KB": "largest request body of the API and web pages (not git), in KiB "
    "(1024); a larger one answers 413",
    "FORGE_CI_MAX_TIMEOUT": "longest a CI job may run, in seconds; caps a job's `timeout` (3600)",
    "FORGE_CI_LOG_LIMIT": "largest CI job log kept, in bytes; a job printing more fails (1048576)",
    "FORGE_CI_MEMORY_MB": "address space a CI job may use, in MiB (2048)",
    "FORGE_CI_PROCESSES": "processes a CI job's user may run at once (RLIMIT_NPROC) (256)",
    "FORGE_CI_FILE_MB": "largest file a CI job may write, in MiB (1024)",
    "FORGE_CI_DISK_MB": "disk a CI job may fill (its workspace, /tmp and /dev/shm together), "
    "in MiB; a job past it is stopped and fails (2048)",
    "FORGE_CI_MOUNTS": "host directories CI jobs see read-only besides the system's own (/usr, "
    "/etc, /opt and the /bin, /lib links), comma-separated absolute paths (none)",
    "FORGE_CI_UID_BASE": "when forge runs as root, each CI job runs under a user id of its own "
    "from FORGE_CI_UID_BASE up (1900000000)",
    "FORGE_CI_UIDS": "how many such user ids: CI jobs one machine runs at once, at most (1024)",
    "FORGE_CI_NETWORK": "1: jobs that set `network: true` get the network (unset: none do)",
    "FORGE_CI_UNSANDBOXED": "1: run CI jobs without bubblewrap when `bwrap` is missing (unsafe)",
    "FORGE_CI_BWRAP": "the bubblewrap command CI jobs run in (bwrap)",
    "FORGE_CI_CONCURRENCY": "CI jobs `forge worker` runs at once, one process each (1)",
    "FORGE_WEBHOOK_ALLOWED_HOSTS": "webhook targets allowed although private or loopback: "
    "comma-separated host names, addresses or CIDRs (none)",
    "FORGE_WEBHOOK_RETRY_DELAYS": "seconds before each webhook delivery try, comma-separated "
    "(0,60,300,600,1200,1800: six tries over about an hour)",
    "FORGE_API_RATE_LIMIT": "API requests a signed-in user may make per hour (5000)",
    "FORGE_API_ANON_RATE_LIMIT": "API requests per hour from one address without a token (60)",
    "FORGE_SIGNUP": "who may create an account in the sign-up form: open, approval (an admin "
    "approves each new account before it can sign in) or closed (open)",
    "FORGE_SIGNUP_RATE": "accounts the sign-up form creates per hour from one address (5)",
    "FORGE_MAX_CLAIMS": "review-queue claims one reviewer may hold at once (5)",
    "FORGE_METRICS_TOKEN": "a bearer token that may read /metrics from anywhere (unset: only "
    "requests from this machine's loopback may)",
    "FORGE_LOG_FORMAT": "text, or json: one JSON object a log line, with the request id (text)",
    "FORGE_AVATARS": "where the API's avatar_url points: identicon (a picture forge draws from "
    "the account's id, at /avatars/NAME.png) or gravatar (Gravatar's, which sends a hash of "
    "the account's e-mail address to gravatar.com) (identicon)",
    "PROMETHEUS_MULTIPROC_DIR": "directory where forge's processes on one machine add up their "
    "metrics (`forge serve` sets $FORGE_HOME/metrics)",
    "FORGE_FSCK": "how pushed objects' problems weigh, as git's receive.fsck.<msg-id>: "
    "comma-separated msg-id=error|warn|ignore, e.g. missingTaggerEntry=error (git's defaults: "
    "its errors refused, its warnings shown; a repository's own setting wins)",
    "FORGE_SMTP_URL": "where forge sends mail (address verification, password resets): "
    "smtp://USER:PASSWORD@HOST:PORT (add ?starttls=1 to upgrade the connection), or "
    "smtps://... for TLS from the start; ?from=ADDRESS sets the sender (forge@HOST). Every "
    "worker needs it too, they send the mail (unset: no mail; site admins see the links on "
    "/admin/mail)",
    "FORGE_PUSH_PROTECTION": "on or off: whether pushes carrying credentials (cloud keys, tokens, "
    "private keys) are refused in repositories that have not chosen for themselves (on)",
    "FORGE_REPUTATION_RULES": "reputation deltas, trust weights and privilege thresholds, as "
    "comma-separated name=number overrides of forge.config.ReputationRules (its defaults)",
}


SIGNUP_MODES = ("open", "approval", "closed")


@dataclass(frozen=True)
class LoginLimits:
    """Failed sign-ins allowed per window (which opens with the first failure), counted in Redis
    by `forge.accounts.users.check_credentials`. Never per account alone, which would let
    anyone lock the owner out."""

    window_seconds: int = 15 * 60
    per_user: int = 10  # for one account from one client address
    per_ip: int = 30  # from one client address, whichever accounts it tries


@dataclass(frozen=True)
class CiLimits:
    """What the admin allows CI jobs: the caps a job's own settings cannot go past."""

    max_timeout: int = 3600
    log_limit: int = 1024 * 1024
    memory_mb: int = 2048
    processes: int = 256
    file_mb: int = 1024
    disk_mb: int = 2048
    mounts: tuple[str, ...] = ()
    uid_base: int = 1_900_000_000
    uid_count: int = 1024
    network: bool = False
    unsandboxed: bool = False
    bwrap: str = "bwrap"
    concurrency: int = 1

    @classmethod
    def from_env(cls, env: dict[str, str]) -> CiLimits:
        return cls(
            max_timeout=_int(env, "FORGE_CI_MAX_TIMEOUT", 3600),
            log_limit=_int(env, "FORGE_CI_LOG_LIMIT", 1024 * 1024),
            memory_mb=_int(env, "FORGE_CI_MEMORY_MB", 2048),
            processes=_int(env, "FORGE_CI_PROCESSES", 256),
            file_mb=_int(env, "FORGE_CI_FILE_MB", 1024),
            disk_mb=_int(env, "FORGE_CI_DISK_MB", 2048),
            mounts=_mounts(env, "FORGE_CI_MOUNTS"),
            uid_base=_int(env, "FORGE_CI_UID_BASE", 1_900_000_000, minimum=1000, maximum=1 << 31),
            uid_count=_int(env, "FORGE_CI_UIDS", 1024, maximum=1 << 20),
            network=env.get("FORGE_CI_NETWORK", "").strip() == "1",
            unsandboxed=env.get("FORGE_CI_UNSANDBOXED", "").strip() == "1",
            bwrap=env.get("FORGE_CI_BWRAP", "").strip() or "bwrap",
            concurrency=_int(env, "FORGE_CI_CONCURRENCY", 1),
        )

    def environment(self) -> dict[str, str]:
        return {
            "FORGE_CI_MAX_TIMEOUT": str(self.max_timeout),
            "FORGE_CI_LOG_LIMIT": str(self.log_limit),
            "FORGE_CI_MEMORY_MB": str(self.memory_mb),
            "FORGE_CI_PROCESSES": str(self.processes),
            "FORGE_CI_FILE_MB": str(self.file_mb),
            "FORGE_CI_DISK_MB": str(self.disk_mb),
            "FORGE_CI_MOUNTS": ",".join(self.mounts),
            "FORGE_CI_UID_BASE": str(self.uid_base),
            "FORGE_CI_UIDS": str(self.uid_count),
            "FORGE_CI_NETWORK": "1" if self.network else "",
            "FORGE_CI_UNSANDBOXED": "1" if self.unsandboxed else "",
            "FORGE_CI_BWRAP": self.bwrap,
            "FORGE_CI_CONCURRENCY": str(self.concurrency),
        }


@dataclass(frozen=True)
class ReputationRules:
    """The numbers of the peer rating: what each event is worth, where privileges unlock and
    how much a vote weighs. Config, not code: FORGE_REPUTATION_RULES overrides any of them."""

    # Events (deltas), each logged with its reason.
    merged_author: int = 10  # the author of a change that merged
    vote_agreed: int = 2  # a vote the outcome agreed with
    vote_disagreed: int = -2  # a vote the outcome disagreed with
    reverted_author: int = -15  # the author of a merged change reverted within the window
    reverted_approver: int = -5  # a reviewer who approved a change later reverted
    audit_passed: int = 3  # a right answer on an audit
    audit_failed: int = -5  # a wrong answer on an audit
    triage_fixed: int = 2  # confirmed an issue that a merged change then fixed
    triage_not_planned: int = -2  # confirmed an issue that maintainers closed as not planned
    revert_window_days: int = 14
    # Trust (forge.accounts.trust): what a vote weighs toward a repository's quorum. Granted
    # by role: maintainers, admins and the owner weigh max_weight, writers writer_weight,
    # triagers triage_weight. Earned: what flows from them along their decisions, at most
    # max_earned_trust a person. Each decision gives at most its amount, however many
    # accounts share it: a merge trust_merged to the author; agreeing with a trusted merge or
    # abandon (before the decision) trust_agreed split among all who agreed; an audit
    # trust_audit, halved for each right answer after the first.
    max_weight: float = 2.0
    writer_weight: float = 1.0
    triage_weight: float = 1.0
    max_earned_trust: float = 1.0
    trust_merged: float = 0.25
    # Agreeing before a decision is what makes a reviewer: at 0.1 (with approver_trust 1.0) no
    # diligent reviewer of bench/crowd became an approver in 16 days, so the default gate
    # was a single maintainer less the hours audits take.
    trust_agreed: float = 0.3
    trust_audit: float = 0.1
    # What each strike (a wrong answer on an audit not made up for by a right one on a
    # known-bad audit) takes off the most trust a person may earn in the repository: two
    # strikes and a reviewer who approves everything weighs nothing (bench/crowd).
    trust_audit_failed: float = 0.5
    max_vouch: float = 0.5  # the most trust one vouch lends
    # Privileges by earned trust in the repository (the roles above have them regardless).
    approver_trust: float = 0.5  # Code-Review -2/+2, and an approval the default gate takes
    approve_ci_trust: float = 0.5  # "approve and run" a newcomer's CI jobs

    @classmethod
    def from_env(cls, env: dict[str, str]) -> ReputationRules:
        raw = env.get("FORGE_REPUTATION_RULES", "").strip()
        if not raw:
            return cls()
        known = {f.name: f.type for f in fields(cls)}
        values: dict[str, int | float] = {}
        for item in raw.split(","):
            name, _, number = item.partition("=")
            name = name.strip()
            if name not in known:
                raise ConfigError(f"FORGE_REPUTATION_RULES: unknown rule {name!r}")
            try:
                values[name] = float(number) if known[name] == "float" else int(number)
            except ValueError:
                raise ConfigError(
                    f"FORGE_REPUTATION_RULES: {name} must be a number, not {number.strip()!r}"
                ) from None
        return cls(**values)

    def environment(self) -> dict[str, str]:
        defaults = ReputationRules()
        changed = [
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(defaults, f.name)
        ]
        return {"FORGE_REPUTATION_RULES": ",".join(changed)} if changed else {}


class ConfigError(Exception):
    """The configuration cannot be used as given."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where outgoing mail goes (FORGE_SMTP_URL), parsed by `parse_smtp_url`."""

    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    # smtps:// speaks TLS from the first byte (port 465); ?starttls=1 upgrades a plain one.
    tls: bool = False
    starttls: bool = False
    sender: str = ""
    url: str = field(default="", repr=False)


def parse_smtp_url(url: str) -> SmtpSettings | None:
    """FORGE_SMTP_URL: smtp://[USER[:PASSWORD]@]HOST[:PORT][?starttls=1&from=ADDRESS] or
    smtps://...; empty means no mail. User and password are percent-decoded, so a password
    holding '@' or ':' is written %40, %3A."""
    from urllib.parse import parse_qs, unquote, urlsplit

    url = (url or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ConfigError(f"FORGE_SMTP_URL must start with smtp:// or smtps://, not {scheme}://")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("FORGE_SMTP_URL has a port that is not a number") from None
    if not parts.hostname:
        raise ConfigError("FORGE_SMTP_URL names no host")
    query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - {"starttls", "from"})
    if unknown:
        raise ConfigError(f"FORGE_SMTP_URL: unknown option {unknown[0]!r} (starttls, from)")
    starttls = query.get("starttls", "0").strip().lower() in ("1", "true", "yes")
    if scheme == "smtps" and starttls:
        raise ConfigError("FORGE_SMTP_URL: smtps:// is TLS already; starttls=1 is for smtp://")
    return SmtpSettings(
        host=parts.hostname,
        port=port or (465 if scheme == "smtps" else 25),
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        tls=scheme == "smtps",
        starttls=starttls,
        sender=query.get("from", "").strip() or f"forge@{parts.hostname}",
        url=url,
    )


@dataclass
class Settings:
    home: Path
    database_url: str
    redis_url: str
    redis_embedded: bool
    secret_key: str = field(repr=False)
    base_url: str | None = None
    # Reverse proxies in front whose X-Forwarded-* headers are believed (werkzeug's ProxyFix).
    proxy_count: int = 0
    web_workers: int = 2
    max_body_bytes: int = 1024 * 1024 * 1024
    # Largest request body of every route but git's (the API's JSON, the web's forms).
    max_api_body_bytes: int = 1024 * 1024
    login_limits: LoginLimits = field(default_factory=LoginLimits)
    # Largest file (blob) a push may carry, like GitHub's 100 MB.
    max_object_bytes: int = 100 * 1024 * 1024
    # Largest file uploaded to a release (GitHub allows 2 GiB; a small forge's disk less).
    max_asset_bytes: int = 256 * 1024 * 1024
    # Bound of the on-disk cache of what pages compute from history (forge.git.page_cache).
    page_cache_mb: int = 512
    # The site's severities of the object checks by git's msg-id, as written in FORGE_FSCK:
    # forge.git.fsck reads them (below forge.git, this module cannot), when the app starts.
    fsck: str = ""
    # Push protection in repositories without a setting of their own (forge.repos.push_protection).
    push_protection: bool = True
    ci: CiLimits = field(default_factory=CiLimits)
    # Webhook targets let through the SSRF guard (host names, addresses, CIDRs).
    webhook_allowed_hosts: tuple[str, ...] = ()
    # Seconds to wait before each try of a webhook delivery; its length is the number of tries.
    webhook_retry_delays: tuple[int, ...] = (0, 60, 300, 600, 1200, 1800)
    reputation: ReputationRules = field(default_factory=ReputationRules)
    # API requests per hour, as GitHub's: per signed-in user, and per address for the others.
    api_rate_limit: int = 5000
    api_anon_rate_limit: int = 60
    # Sign-up: open, approval (an admin approves each new account) or closed; and how many
    # accounts one address may create per hour.
    signup_mode: str = "open"
    signup_rate: int = 5
    max_claims: int = 5
    # Who may read /metrics besides loopback, and whether log lines are JSON objects.
    metrics_token: str = field(default="", repr=False)
    log_format: str = "text"
    # The API's avatar_url: forge's own identicons, or Gravatar's when the admin opts in.
    avatars: str = "identicon"
    # SQLite only: how long to wait for another connection's lock before "database is locked".
    db_busy_timeout_ms: int = 30_000
    # Outgoing mail (FORGE_SMTP_URL); None: no mail, admins see the links instead.
    smtp: SmtpSettings | None = None

    @property
    def repos_dir(self) -> Path:
        return self.home / "repos"

    @property
    def releases_dir(self) -> Path:
        """Release assets' bytes (forge.repos.release_files), outside the database."""
        return self.home / "releases"

    @property
    def redis_dir(self) -> Path:
        return self.home / "redis"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def workspaces_dir(self) -> Path:
        return self.home / "workspaces"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, home: str | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home_path = Path(home or env.get("FORGE_HOME") or "instance").resolve()
        redis_url = env.get("REDIS_URL", "").strip()
        embedded = not redis_url
        if embedded:
            redis_url = f"unix://{home_path / 'redis' / 'redis.sock'}"
        database_url = env.get("DATABASE_URL", "").strip() or f"sqlite:///{home_path / 'forge.db'}"
        return cls(
            home=home_path,
            database_url=database_url,
            redis_url=redis_url,
            redis_embedded=embedded,
            secret_key=env.get("SECRET_KEY", ""),
            base_url=(env.get("FORGE_BASE_URL") or "").rstrip("/") or None,
            proxy_count=_int(env, "FORGE_PROXY_COUNT", 0, minimum=0),
            web_workers=_int(env, "FORGE_WORKERS", 2),
            max_body_bytes=_int(env, "FORGE_MAX_BODY_MB", 1024) * 1024 * 1024,
            max_api_body_bytes=_int(env, "FORGE_MAX_API_BODY_KB", 1024) * 1024,
            max_object_bytes=_int(env, "FORGE_MAX_FILE_MB", 100) * 1024 * 1024,
            max_asset_bytes=_int(env, "FORGE_MAX_ASSET_MB", 256) * 1024 * 1024,
            page_cache_mb=_int(env, "FORGE_PAGE_CACHE_MB", 512, minimum=0),
            fsck=env.get("FORGE_FSCK", "").strip(),
            push_protection=_choice(env, "FORGE_PUSH_PROTECTION", ("on", "off")) == "on",
            ci=CiLimits.from_env(env),
            webhook_allowed_hosts=_list(env, "FORGE_WEBHOOK_ALLOWED_HOSTS"),
            webhook_retry_delays=_delays(env, "FORGE_WEBHOOK_RETRY_DELAYS")
            or (0, 60, 300, 600, 1200, 1800),
            reputation=ReputationRules.from_env(env),
            api_rate_limit=_int(env, "FORGE_API_RATE_LIMIT", 5000),
            api_anon_rate_limit=_int(env, "FORGE_API_ANON_RATE_LIMIT", 60),
            signup_mode=_choice(env, "FORGE_SIGNUP", SIGNUP_MODES),
            signup_rate=_int(env, "FORGE_SIGNUP_RATE", 5),
            max_claims=_int(env, "FORGE_MAX_CLAIMS", 5),
            metrics_token=env.get("FORGE_METRICS_TOKEN", "").strip(),
            log_format=_choice(env, "FORGE_LOG_FORMAT", ("text", "json")),
            avatars=_choice(env, "FORGE_AVATARS", ("identicon", "gravatar")),
            db_busy_timeout_ms=_int(env, "FORGE_DB_BUSY_TIMEOUT_MS", 30_000),
            smtp=parse_smtp_url(env.get("FORGE_SMTP_URL", "")),
        )

    def ensure_home(self, create: bool) -> None:
        """Make sure FORGE_HOME exists (creating it if asked) and holds a secret key."""
        if not self.home.is_dir():
            if not create:
                raise ConfigError(
                    f"FORGE_HOME {self.home} does not exist; "
                    f"create it with 'forge --home {self.home} db upgrade'"
                )
            if not self.home.parent.is_dir():
                raise ConfigError(f"cannot create FORGE_HOME {self.home}: parent does not exist")
            self.home.mkdir(mode=0o700)
        for sub in (self.repos_dir, self.redis_dir, self.logs_dir, self.workspaces_dir):
            sub.mkdir(exist_ok=True)
        if not self.secret_key:
            self.secret_key = load_or_create_secret(self.home / "secret_key")

    def environment(self) -> dict[str, str]:
        """Variables that let a child process (web server, worker) see these same settings."""
        env = {"FORGE_HOME": str(self.home), "DATABASE_URL": self.database_url}
        if not self.redis_embedded:
            env["REDIS_URL"] = self.redis_url
        if self.base_url:
            env["FORGE_BASE_URL"] = self.base_url
        env["FORGE_PROXY_COUNT"] = str(self.proxy_count)
        env["FORGE_MAX_API_BODY_KB"] = str(self.max_api_body_bytes // 1024)
        env["FORGE_PAGE_CACHE_MB"] = str(self.page_cache_mb)
        env["FORGE_MAX_ASSET_MB"] = str(self.max_asset_bytes // (1024 * 1024))
        if self.fsck:
            env["FORGE_FSCK"] = self.fsck
        env["FORGE_PUSH_PROTECTION"] = "on" if self.push_protection else "off"
        env.update(self.ci.environment())
        if self.webhook_allowed_hosts:
            env["FORGE_WEBHOOK_ALLOWED_HOSTS"] = ",".join(self.webhook_allowed_hosts)
        env["FORGE_WEBHOOK_RETRY_DELAYS"] = ",".join(map(str, self.webhook_retry_delays))
        env.update(self.reputation.environment())
        env["FORGE_API_RATE_LIMIT"] = str(self.api_rate_limit)
        env["FORGE_API_ANON_RATE_LIMIT"] = str(self.api_anon_rate_limit)
        env["FORGE_SIGNUP"] = self.signup_mode
        env["FORGE_SIGNUP_RATE"] = str(self.signup_rate)
        env["FORGE_MAX_CLAIMS"] = str(self.max_claims)
        if self.metrics_token:
            env["FORGE_METRICS_TOKEN"] = self.metrics_token
        env["FORGE_LOG_FORMAT"] = self.log_format
        env["FORGE_AVATARS"] = self.avatars
        env["FORGE_DB_BUSY_TIMEOUT_MS"] = str(self.db_busy_timeout_ms)
        if self.smtp is not None:
            env["FORGE_SMTP_URL"] = self.smtp.url
        return env


def load_or_create_secret(path: Path) -> str:
    """Read the secret key file, writing a new random key first if there is none."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


def _int(
    env: dict[str, str], name: str, default: int, minimum: int = 1, maximum: int | None = None
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(
            f"{name} must be positive, not {value}"
            if minimum == 1
            else f"{name} must be at least {minimum}, not {value}"
        )
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, not {value}")
    return value


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (the first when unset)."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _list(env: dict[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _mounts(env: dict[str, str], name: str) -> tuple[str, ...]:
    """Absolute directories other than the root itself, which would show the host whole."""
    paths = _list(env, name)
    for path in paths:
        if not path.startswith("/") or os.path.normpath(path) == "/":
            raise ConfigError(f"{name} must hold absolute paths below /, not {path!r}")
    return tuple(os.path.normpath(path) for path in paths)


def _delays(env: dict[str, str], name: str) -> tuple[int, ...]:
    items = _list(env, name)
    try:
        delays = tuple(int(item) for item in items)
    except ValueError:
        raise ConfigError(f"{name} must be whole numbers of seconds, not {env[name]!r}") from None
    if any(d < 0 for d in delays):
        raise ConfigError(f"{name} must not hold negative delays")
    return delays
