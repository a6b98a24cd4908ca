"""The API's rate limit, kept in Redis: so many requests per caller per window, like GitHub's
5,000 an hour for a signed-in user and 60 an hour for an anonymous client address.

A window opens with a caller's first request and closes an hour later, when the count starts
over (GitHub's `X-RateLimit-Reset`). Every web process shares the counts through Redis.
While Redis cannot be reached, nothing is counted and every request is let through (logged):
pages, the API and signing in keep working through a Redis restart, and what bounds password
guessing meanwhile is the cost of each argon2 check.
The sign-up form's limit per address (`forge.accounts.users.reserve_signup`) counts with
the same helpers, in buckets of its own, and so do failed sign-ins
(`forge.accounts.users.check_credentials`, with `reserve`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from forge.queue import UNREACHABLE

log = logging.getLogger(__name__)

WINDOW_SECONDS = 3600
_PREFIX = "forge:api-rate:"


@dataclass(frozen=True)
class RateLimit:
    """Where a caller stands: what GitHub's X-RateLimit-* headers and /rate_limit say."""

    limit: int
    used: int
    reset: int  # Unix time at which the window closes
    refused: bool = False  # this request went past the limit and was not served
    resource: str = "core"

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def charge(connection, caller: str, limit: int, cost: int = 1) -> RateLimit:
    """Count `cost` requests against `caller` (e.g. "user:7", "ip:10.0.0.1"); cost 0 reads.

    A refused request (over the limit) is taken back at once, so a caller that keeps knocking
    does not push its own reset further away, and `used` never shows more than the limit.
    """
    key = _PREFIX + caller
    try:
        with connection.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)
            pipe.incrby(key, cost)
            pipe.ttl(key)
            _created, used, ttl = pipe.execute()
    except UNREACHABLE as exc:
        log.warning("rate limit of %s not counted: Redis unreachable (%s)", caller, exc)
        return RateLimit(limit, 0, int(time.time()) + WINDOW_SECONDS)
    refused = used > limit and cost > 0
    if refused:
        connection.decrby(key, cost)
    ttl = ttl if ttl and ttl > 0 else WINDOW_SECONDS
    return RateLimit(limit, min(used, limit), int(time.time()) + ttl, refused)


# Every bucket below its limit: count one against each and answer 0. Otherwise count nothing
# and answer the seconds until the first full bucket's window closes. One script, so that
# parallel requests cannot all read "below the limit" before any of them counts.
_RESERVE = """
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 0 then
      redis.call('EXPIRE', key, window)
      ttl = window
    end
    return ttl
  end
end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('EXPIRE', key, window)
  end
end
return 0
"""


def reserve(connection, buckets: dict[str, int], window: int) -> int:
    """Count one against every bucket (caller -> its limit), or against none when any is
    already at its limit; a bucket's window of `window` seconds opens with its first count.

    Returns 0 when counted, else the seconds until the full bucket's window closes. Atomic
    across all the buckets, so N parallel requests never get more than the limit past it;
    `refund` gives a count back (e.g. when the attempt it held a place for succeeded).
    """
    if not buckets:
        return 0
    keys = [_PREFIX + caller for caller in buckets]
    script = connection.register_script(_RESERVE)
    try:
        return int(script(keys=keys, args=[window, *buckets.values()]))
    except UNREACHABLE as exc:
        log.warning("limits of %s not counted: Redis unreachable (%s)", ", ".join(buckets), exc)
        return 0


def refund(connection, caller: str, cost: int = 1) -> None:
    """Take back a request that turned out not to count (GitHub: a 304 is free)."""
    key = _PREFIX + caller
    try:
        if connection.decrby(key, cost) < 0:  # the window closed in between: start afresh
            connection.delete(key)
    except UNREACHABLE:
        pass  # nothing was counted while Redis was away, so there is nothing to give back
