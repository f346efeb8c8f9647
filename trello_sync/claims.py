"""Which boards this process handles, when several workers share one ledger.

Each cycle a worker claims its fair share of the configured boards (free ones, expired
ones, or its own), renews its leases from a heartbeat while it works, gives back what
it holds beyond its share when other workers appear, and releases everything on a clean
stop. The ledger's fencing check makes a lease that ran out useless for writing.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
import threading
from collections.abc import Sequence

from trello_sync.ledger.store import Lease, LedgerStore

log = logging.getLogger(__name__)


def _local_scope() -> str:
    """This host and pid namespace: where a process id means the same process. Two
    containers can share a host name, but never a pid namespace."""
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = "0"
    return f"{socket.gethostname()}/{namespace}"


def new_owner_id() -> str:
    """Unique per process, readable in the ledger: host/pid-namespace, pid, random."""
    return f"{_local_scope()}:{os.getpid()}:{secrets.token_hex(3)}"


def _is_dead_local(owner: str) -> bool:
    """Only a process of our own host and pid namespace can be asked whether it lives."""
    scope, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if scope != _local_scope() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, owned by another user
    return False


class BoardClaims:
    def __init__(self, ledger: LedgerStore, owner: str, lease_seconds: float) -> None:
        self.owner = owner
        self.lease_seconds = lease_seconds
        self._ledger = ledger
        self._lock = threading.Lock()
        self._held: dict[str, Lease] = {}
        self._presence = f"worker:{owner}"

    def claim(self, refs: Sequence[str]) -> dict[str, Lease]:
        """Renew what is held, take up to a fair share more; return the boards' leases."""
        with self._lock:
            # A presence lease first: a new worker that holds no board yet still counts
            # among the live owners, so the others give it a share.
            presence = self._ledger.claim_boards(self.owner, [self._presence], self.lease_seconds)
            live = self._reap_dead_neighbours(self._ledger.live_owners()) | {self.owner}
            share = math.ceil(len(refs) / len(live)) if refs else 0
            boards_held = sum(1 for key in self._held if key != self._presence)
            room = max(0, share - boards_held)
            leases = self._ledger.claim_boards(self.owner, refs, self.lease_seconds, room)
            held = {lease.key: lease for lease in leases}
            extra = sorted(held)[share:] if len(held) > share else []
            if extra:
                # Another worker has joined: leave it its share instead of starving it.
                self._ledger.release_leases(self.owner, extra)
                log.info("gave back %d board(s) to other workers: %s", len(extra), extra)
                for key in extra:
                    del held[key]
            self._held = {**held, **{lease.key: lease for lease in presence}}
            return held

    def lease_for(self, ref: str) -> Lease | None:
        """This worker's lease on the board, as the last claim or renewal left it; None
        when another worker holds it. A cycle between two polls (a webhook woke it) uses
        this rather than claiming: a claim of one board would give back the others."""
        with self._lock:
            return self._held.get(ref)

    def _reap_dead_neighbours(self, owners: set[str]) -> set[str]:
        """A worker on this very host that died (killed, crashed) left leases that would
        block its own restart until they run out: its process is gone, so release them
        now. Owners on other hosts can only be waited out."""
        alive = set()
        for owner in owners:
            if owner != self.owner and _is_dead_local(owner):
                log.info("releasing the leases of %s: that process is gone", owner)
                self._ledger.release_leases(owner)
            else:
                alive.add(owner)
        return alive

    def renew(self) -> None:
        with self._lock:
            if not self._held:
                return
            kept = self._ledger.renew_leases(list(self._held.values()), self.lease_seconds)
            lost = set(self._held) - {lease.key for lease in kept}
            if lost:
                log.warning("lost the lease on %s; another worker may take it", sorted(lost))
            self._held = {lease.key: lease for lease in kept}

    def release(self) -> None:
        with self._lock:
            self._ledger.release_leases(self.owner)
            self._held = {}


class Heartbeat:
    """Renews the leases every third of their length, on its own thread, while it runs."""

    def __init__(self, claims: BoardClaims, stop: threading.Event | None = None) -> None:
        self._claims = claims
        self._stop = stop or threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def _run(self) -> None:
        interval = max(self._claims.lease_seconds / 3, 0.5)
        while not self._stop.wait(interval):
            try:
                self._claims.renew()
            except Exception as error:  # a database hiccup: the next beat tries again
                log.warning("lease renewal failed: %s", error)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
