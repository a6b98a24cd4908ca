"""The sign-in throttle: failures counted per (account, address) pair and per address, in Redis.

Whoever guesses is stopped at their own address; the owner's right password from another
address, and a token from anywhere, keep working; and parallel guesses cannot race past a
limit. The tests run with `per_user=5, per_ip=8` (conftest's settings).
"""

import base64
import threading

import redis
import requests
from conftest import PASSWORD, csrf_from

from forge.accounts import rate_limits
from forge.accounts import users as accounts

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


def visitor(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sign_in(client, name: str, password: str):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token})


def basic(name: str, secret: str) -> dict[str, str]:
    value = base64.b64encode(f"{name}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def test_guessing_from_one_address_does_not_lock_the_owner_out(app, make_user, settings):
    make_user("erin")
    attacker = visitor(app, ATTACKER)
    assert [sign_in(attacker, "erin", f"guess-{i}").status_code for i in range(5)] == [401] * 5
    # The guesser's address is done with this account, even with the right password...
    refused = sign_in(attacker, "erin", PASSWORD)
    assert refused.status_code == 429
    assert "too many failed sign-in attempts" in refused.get_data(as_text=True)
    assert 0 < int(refused.headers["Retry-After"]) <= settings.login_limits.window_seconds
    # ...while the owner, from an address that has not been guessing, signs in at once.
    owner = visitor(app, OWNER)
    assert sign_in(owner, "erin", PASSWORD).status_code == 302
    assert "erin" in owner.get("/").get_data(as_text=True)


def test_an_address_that_guesses_across_accounts_is_refused_for_every_account(app, make_user):
    make_user("frank")
    attacker = visitor(app, ATTACKER)
    statuses = [sign_in(attacker, f"ghost{i}", "x" * 9).status_code for i in range(8)]
    assert statuses == [401] * 8
    # Past the per-address limit: refused whatever account it names, right password or not.
    assert sign_in(attacker, "frank", PASSWORD).status_code == 429
    assert sign_in(attacker, "someone-new", "x" * 9).status_code == 429
    assert sign_in(visitor(app, OWNER), "frank", PASSWORD).status_code == 302


def test_successful_sign_ins_are_not_failures(app, make_user):
    make_user("gina")
    for _ in range(12):  # more than either limit, from one address
        assert sign_in(visitor(app, OWNER), "gina", PASSWORD).status_code == 302
    assert sign_in(visitor(app, OWNER), "gina", "a wrong one").status_code == 401


def test_git_over_http_uses_the_same_throttle_per_address(app, hosted_repo):
    hosted_repo()
    path = "/alice/project.git/info/refs?service=git-upload-pack"
    attacker = visitor(app, ATTACKER)
    statuses = [
        attacker.get(path, headers=basic("alice", f"bad-{i}")).status_code for i in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    assert attacker.get(path, headers=basic("alice", PASSWORD)).status_code == 429
    # The same account over git from elsewhere, with its password: fine.
    assert visitor(app, OWNER).get(path, headers=basic("alice", PASSWORD)).status_code == 200
    # A guess in the browser from the guessing address counts against the same pair.
    assert sign_in(attacker, "alice", PASSWORD).status_code == 429


def test_a_token_keeps_working_while_the_password_is_guessed(live_server, hosted_repo, api):
    repo = hosted_repo()
    refs = repo.url + "/info/refs?service=git-upload-pack"
    # Everything here comes from 127.0.0.1: the guesses exhaust both the account's pair and
    # the address's limits for the very address the token is used from.
    guesses = [requests.get(refs, auth=("alice", f"bad-{i}"), timeout=30) for i in range(6)]
    guesses += [requests.get(refs, auth=(f"ghost{i}", "x" * 9), timeout=30) for i in range(4)]
    assert [r.status_code for r in guesses] == [401] * 5 + [429] + [401] * 3 + [429]
    assert requests.get(refs, auth=("alice", PASSWORD), timeout=30).status_code == 429
    # A token as git's password, under the account's name or any other.
    assert requests.get(refs, auth=("alice", repo.token), timeout=30).status_code == 200
    assert requests.get(refs, auth=("x-access-token", repo.token), timeout=30).status_code == 200
    # The API: `Authorization: token`, and Basic with the token as the password.
    assert api("GET", "/user", repo.token).json()["login"] == "alice"
    answer = requests.get(f"{live_server}/api/v3/user", auth=("alice", repo.token), timeout=30)
    assert answer.status_code == 200 and answer.json()["login"] == "alice"


def _parallel_git_guesses(url: str, names: list[str]) -> list[int]:
    """Send one wrong password per name, all at once; the status each got."""
    statuses: list[int | None] = [None] * len(names)
    start = threading.Barrier(len(names))

    def guess(i: int) -> None:
        start.wait(timeout=30)
        answer = requests.get(url, auth=(names[i], f"wrong-{i}"), timeout=60)
        statuses[i] = answer.status_code

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(len(names))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert all(not thread.is_alive() for thread in threads), "a guess hung"
    return statuses


def test_parallel_guesses_at_one_account_never_pass_the_limit(hosted_repo, settings):
    repo = hosted_repo()
    statuses = _parallel_git_guesses(
        repo.url + "/info/refs?service=git-upload-pack", ["alice"] * 24
    )
    evaluated, refused = statuses.count(401), statuses.count(429)
    assert (evaluated, refused) == (5, 19), statuses
    connection = redis.Redis.from_url(settings.redis_url)
    counted = {
        bucket: int(connection.get(rate_limits._PREFIX + bucket))
        for bucket in accounts.login_buckets("alice", "127.0.0.1", settings.login_limits)
    }
    assert sorted(counted.values()) == [5, 5]


def test_parallel_guesses_across_accounts_never_pass_the_address_limit(hosted_repo):
    repo = hosted_repo()
    names = [f"ghost{i}" for i in range(24)]
    statuses = _parallel_git_guesses(repo.url + "/info/refs?service=git-upload-pack", names)
    assert (statuses.count(401), statuses.count(429)) == (8, 16), statuses
