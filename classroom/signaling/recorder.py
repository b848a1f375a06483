"""Records attendance and engagement of this node's connections, and feeds the facilitators'
equity-of-voice panel.

The connection tells the recorder when a participant is admitted, changes room, turns the
camera on or off, and leaves; the media plane's `TalkMeter` (one per participant) measures
talk. The recorder never makes the media plane or a connection wait for Redis:

- Attendance events go into a queue that one writer task drains, in order. A write that
  fails because Redis cannot be reached (``StoreUnavailable``: restarting, network) is
  retried until it succeeds; every event has a deterministic id (``{connection}:join``,
  ``{connection}:room:{n}``, ``{connection}:leave``) and the store writes an id once, so a
  retry never duplicates. After such a failure, the events written in the ``REPLAY_S``
  before it are written again (a no-op unless Redis lost them: AOF with ``appendfsync
  everysec`` may lose the last second on a crash). A write Redis refuses (a script error,
  a key of the wrong type) would fail the same way forever: it is logged and dropped
  (``classroom_records_dropped_total``), and so is the oldest queued record when the queue
  holds ``MAX_QUEUE`` of them (a long outage).
- Every ``FLUSH_S`` one pipeline writes each connection's sign of life ("alive" mark) and
  its *absolute* engagement totals per room. A restart of the node (or of Redis) loses at
  most the last ``FLUSH_S`` seconds of talk and camera time of the connections it had.
- Every ``EQUITY_S`` each facilitator and observer in a session gets an `equity` message:
  per room, who has spoken, who holds most of the talk, how long it has been silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from classroom.domain.attendance import AttendanceEvent
from classroom.domain.engagement import ConnectionTotals, RoomTotals, VoiceStat, equity_room
from classroom.domain.models import Role
from classroom.observability import metrics
from classroom.rooms.registry import RoomRegistry
from classroom.rooms.room import Participant
from classroom.signaling.directory import Directory
from classroom.store.errors import StoreUnavailable
from classroom.store.records import RecordStore
from classroom.tasks import cancel_requested, every, stop

log = logging.getLogger(__name__)

#: Signs of life and engagement totals are written this often (the bound on what a crash
#: loses; docs/privacy.md).
FLUSH_S = 5.0
#: Facilitators' equity panel refresh.
EQUITY_S = 3.0
#: Wait between retries of a failed write.
RETRY_S = 0.5
#: After a failure, events written this long before it are written again.
REPLAY_S = 10.0
#: Records queued while Redis is unreachable, at most (a few hours of a full node's
#: comings and goings); beyond it the oldest are dropped.
MAX_QUEUE = 20_000
#: How long close() waits for the last writes.
CLOSE_TIMEOUT_S = 5.0
#: Clients send something at least this often (a `ping`, docs/protocol.md): a connection
#: found lost ended no later than this after the client was last heard.
CLIENT_QUIET_S = 10.0


@dataclass
class Tracked:
    """One connection's running totals on this node."""

    session_id: str
    participant: Participant
    room: str
    video: bool
    since: float  # monotonic: when camera time was last accrued
    entered: float  # monotonic: when it entered its current room
    admitted_at: float = 0.0  # unix s
    talk_base: float = 0.0
    turns_base: int = 0
    rooms: dict[str, RoomTotals] = field(default_factory=dict)
    moves: int = 0

    @property
    def connection(self) -> str:
        return self.participant.id

    def totals(self, at: float) -> ConnectionTotals:
        info = self.participant.info
        return ConnectionTotals(
            self.connection,
            info.member_id,
            info.role.value,
            {room: RoomTotals(t.talk_s, t.turns, t.camera_s) for room, t in self.rooms.items()},
            at,
        )


_Item = tuple[str, AttendanceEvent] | list[tuple[str, str, float, str, ConnectionTotals | None]]


class Recorder:
    def __init__(
        self,
        records: RecordStore,
        rooms: RoomRegistry,
        directory: Directory,
        node_id: str,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._records = records
        self._rooms = rooms
        self._directory = directory
        self._node = node_id
        self._clock = clock
        self._mono = monotonic
        self._tracked: dict[str, Tracked] = {}
        self._queue: deque[_Item] = deque()
        self._writing: _Item | None = None  # taken off the queue, not written yet
        self._overflowing = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._recent: deque[tuple[float, str, AttendanceEvent]] = deque()
        self._failing = False
        self._tasks: list[asyncio.Task[None]] = []
        #: (session, room) -> monotonic time of the last voice heard there / first seen.
        self._room_voice: dict[tuple[str, str], float] = {}
        self.closed = False

    # --- hooks (called by the connection, synchronously) ------------------------------------

    def admitted(self, session_id: str, participant: Participant) -> None:
        now = self._mono()
        info = participant.info
        tracked = Tracked(
            session_id,
            participant,
            participant.room.id,
            info.video and info.publishes,
            now,
            now,
            admitted_at=self._clock(),
        )
        self._tracked[participant.id] = tracked
        self._event(tracked, "join", f"{participant.id}:join")

    def room_changed(self, participant_id: str, room_id: str) -> None:
        tracked = self._tracked.get(participant_id)
        if tracked is None or tracked.room == room_id:
            return
        now = self._mono()
        self._accrue(tracked, now)
        tracked.room = room_id
        tracked.entered = now
        tracked.moves += 1
        self._event(tracked, "room", f"{participant_id}:room:{tracked.moves}")

    def media_changed(self, participant_id: str, video: bool) -> None:
        tracked = self._tracked.get(participant_id)
        if tracked is None:
            return
        self._accrue(tracked, self._mono())
        tracked.video = video and tracked.participant.info.publishes

    def left(self, participant_id: str, reason: str, last_seen: float | None = None) -> None:
        """The connection ended. A lost one (`connection_lost`) is noticed late (the socket's
        heartbeat, up to ~30 s): it ended no later than `CLIENT_QUIET_S` after the client's
        last message (`last_seen`, unix s)."""
        tracked = self._tracked.pop(participant_id, None)
        if tracked is None:
            return
        self._accrue(tracked, self._mono())
        at = self._clock()
        if reason == "connection_lost" and last_seen is not None:
            at = max(tracked.admitted_at, min(at, last_seen + CLIENT_QUIET_S))
        self._event(tracked, "leave", f"{participant_id}:leave", reason, at)
        self._push(
            [(tracked.session_id, tracked.connection, self._clock(), self._node,
              tracked.totals(self._clock()))]
        )  # fmt: skip

    # --- accounting ---------------------------------------------------------------------------

    def _accrue(self, tracked: Tracked, now: float) -> None:
        participant = tracked.participant
        totals = tracked.rooms.setdefault(tracked.room, RoomTotals())
        talk = participant.talk.talk_s(now)
        totals.talk_s += max(0.0, talk - tracked.talk_base)
        totals.turns += max(0, participant.talk.turns - tracked.turns_base)
        tracked.talk_base, tracked.turns_base = talk, participant.talk.turns
        if tracked.video:
            totals.camera_s += max(0.0, now - tracked.since)
        tracked.since = now
        # A change the connection did not report (e.g. a facilitator stopped the camera).
        tracked.video = participant.info.video and participant.info.publishes

    def _event(
        self, tracked: Tracked, kind: str, event_id: str, reason: str = "", at: float | None = None
    ) -> None:
        info = tracked.participant.info
        event = AttendanceEvent(
            kind=kind,
            member_id=info.member_id,
            connection=tracked.connection,
            at=self._clock() if at is None else at,
            role=info.role.value,
            room=tracked.room,
            reason=reason,
            node=self._node,
            event_id=event_id,
        )
        self._push((tracked.session_id, event))

    def _push(self, item: _Item) -> None:
        if len(self._queue) >= MAX_QUEUE:
            self._queue.popleft()
            metrics.RECORDS_DROPPED.inc()
            if not self._overflowing:
                log.error(
                    "attendance records: %d waiting to be written; dropping the oldest",
                    MAX_QUEUE,
                )
            self._overflowing = True
        self._queue.append(item)
        self._idle.clear()
        self._wake.set()

    # --- writing --------------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._write_loop(), name="records-writer"),
            loop.create_task(
                every(FLUSH_S, self.flush, "records flush", wait_first=True), name="records-flush"
            ),
            loop.create_task(
                every(EQUITY_S, self.send_equity, "equity", wait_first=True), name="equity"
            ),
        ]

    async def close(self) -> None:
        """Write what is left (bounded wait), then stop."""
        self.closed = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), CLOSE_TIMEOUT_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drained(), CLOSE_TIMEOUT_S)
        for failure in await stop(self._tasks):
            log.error("records: a background task failed", exc_info=failure)
        left = len(self._queue) + (self._writing is not None)
        if left:
            log.warning("%d attendance record(s) could not be written", left)

    async def drained(self) -> None:
        """Until every queued write is done."""
        await self._idle.wait()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                self._writing = self._queue.popleft()
                await self._write(self._writing)
                self._writing = None
            self._idle.set()

    async def _write(self, item: _Item) -> None:
        """Write one record: retried while Redis is unreachable, dropped if refused."""
        while True:
            try:
                if isinstance(item, tuple):
                    await self._records.append(*item)
                else:
                    await self._records.flush(item)
            except StoreUnavailable as exc:
                if cancel_requested():  # the cancel came back as redis-py's own error
                    raise asyncio.CancelledError from exc
                self._failed(exc)
                await asyncio.sleep(RETRY_S)
                continue
            except Exception:
                self._dropped(item)
                return
            self._succeeded()
            if isinstance(item, tuple):
                now = self._mono()
                self._recent.append((now, *item))
                while self._recent and self._recent[0][0] < now - REPLAY_S:
                    self._recent.popleft()
            return

    @staticmethod
    def _dropped(item: _Item) -> None:
        metrics.RECORDS_DROPPED.inc()
        what = f"event {item[1].event_id}" if isinstance(item, tuple) else "totals"
        log.error("attendance records: Redis refused the %s; dropped", what, exc_info=True)

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            log.warning("attendance records: Redis write failed (%s); retrying", exc)
        self._failing = True

    def _succeeded(self) -> None:
        self._overflowing = False
        if not self._failing:
            return
        self._failing = False
        replay = [(sid, event) for _, sid, event in self._recent]
        self._recent.clear()
        if replay:
            log.info(
                "attendance records: Redis is back; re-writing %d recent event(s)", len(replay)
            )
            self._queue.extendleft(reversed(replay))
            self._idle.clear()
            self._wake.set()

    async def flush(self) -> None:
        """Signs of life and absolute totals of every connection here, one round trip."""
        now, at = self._mono(), self._clock()
        entries: list[tuple[str, str, float, str, ConnectionTotals | None]] = []
        for tracked in self._tracked.values():
            self._accrue(tracked, now)
            entries.append(
                (tracked.session_id, tracked.connection, at, self._node, tracked.totals(at))
            )
        if not entries:
            return  # nothing written is no news of the store (nor a reason to say it is back)
        try:
            await self._records.flush(entries)
        except StoreUnavailable as exc:  # retried by the next flush: the totals are absolute
            self._failed(exc)
            return
        except Exception:
            metrics.RECORDS_DROPPED.inc()
            log.error("attendance records: Redis refused the totals", exc_info=True)
            return
        self._succeeded()

    # --- equity of voice ------------------------------------------------------------------------

    async def send_equity(self) -> None:
        """One `equity` message to every facilitator and observer of each session here."""
        now = self._mono()
        seen: set[tuple[str, str]] = set()
        for media in self._rooms.sessions():
            watchers = [
                c
                for c in self._directory.in_room(media.session_id)
                if c.role is not Role.participant
            ]
            if not watchers:
                continue
            try:
                earlier = await self._records.engagement_totals(media.session_id)
            except Exception:
                earlier = []
            rooms = []
            for room in list(media.rooms.values()):
                if not room.participants:
                    continue  # an empty room's silence starts again when people come back
                key = (media.session_id, room.id)
                seen.add(key)
                stats = self._voice_stats(
                    media.session_id, room.id, room.participants, earlier, now
                )
                last_voice = self._room_voice.setdefault(key, now)
                for participant in room.participants.values():
                    tracked = self._tracked.get(participant.id)
                    loud = participant.talk.last_loud
                    if tracked is not None and loud is not None and loud >= tracked.entered:
                        last_voice = max(last_voice, loud)
                self._room_voice[key] = last_voice
                rooms.append(equity_room(room.id, room.kind, room.name, stats, now - last_voice))
            message = {
                "session_id": media.session_id,
                "at": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
                "rooms": rooms,
            }
            for watcher in watchers:
                watcher.send("equity", **message)
        for key in [k for k in self._room_voice if k not in seen]:
            del self._room_voice[key]

    def _voice_stats(
        self,
        session_id: str,
        room_id: str,
        participants: dict[str, Participant],
        earlier: list[ConnectionTotals],
        now: float,
    ) -> list[VoiceStat]:
        stats = []
        for participant in participants.values():
            info = participant.info
            tracked = self._tracked.get(participant.id)
            talk, turns = 0.0, 0
            last_spoke = None
            if tracked is not None:
                self._accrue(tracked, now)
                mine = tracked.rooms.get(room_id)
                if mine is not None:
                    talk, turns = mine.talk_s, mine.turns
                loud = participant.talk.last_loud
                if loud is not None and loud >= tracked.entered:
                    last_spoke = now - loud
            # The member's earlier connections to this session (before a reconnect).
            for other in earlier:
                if other.member_id == info.member_id and other.connection != participant.id:
                    past = other.rooms.get(room_id)
                    if past is not None:
                        talk += past.talk_s
                        turns += past.turns
            stats.append(
                VoiceStat(
                    info.member_id, participant.id, info.name, info.role.value, talk, turns,
                    last_spoke,
                )
            )  # fmt: skip
        return stats
