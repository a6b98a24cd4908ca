"""Domain events (forge.events): every event a service publishes has someone listening in a
wired process, and a process that never wired its subscribers refuses to publish instead of
losing what happened."""

from __future__ import annotations

import subprocess
import sys

from forge import events, subscribers


def test_every_domain_event_is_heard_once_the_process_is_wired(app):
    subscribers.register()
    kinds = set(events.Event.__subclasses__())
    assert len(kinds) >= 12
    unheard = sorted(k.__name__ for k in kinds if not events._subscribers.get(k))
    assert unheard == []
    # Wiring twice (tests and tools build many apps in one process) calls nobody twice.
    before = dict(events._subscribers)
    subscribers.register()
    assert {k: len(v) for k, v in events._subscribers.items()} == {
        k: len(v) for k, v in before.items()
    }


def test_a_process_that_never_wired_its_subscribers_refuses_to_publish():
    program = (
        "from forge import events\n"
        "events.publish(None, events.ChangeClosed(change=None, sender=None))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "forge.subscribers.register()" in result.stderr
