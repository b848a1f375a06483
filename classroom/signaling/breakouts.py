"""Breakout rounds on one node: plan through the store, apply published changes to rooms.

No node owns the truth: a round lives in Redis (`RoundStore`) and every change is published.
Each node applies the changes to the sessions it hosts: opening a round opens one room per
group and re-routes every present member into theirs (no new connection, no new ICE);
closing brings everyone back to the main room. Each node also keeps the clock: it warns the
groups a minute before the end and closes due rounds (closing is compare-and-set, so when
several nodes try, one wins).

A `choose` round starts with empty groups: the session's participants are shown the groups
(`round_choice`) from planning until the round closes and pick one each (`choose`, an atomic
change checked against the round's `max_size`); in an open round the pick re-routes them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from classroom.domain import rounds as rules
from classroom.domain.models import Member, Role
from classroom.domain.planner import (
    PairHistory,
    Person,
    PlanError,
    place_late_joiner,
    score,
)
from classroom.domain.planner import plan_round as plan_groups
from classroom.domain.round_plan import STRATEGIES
from classroom.domain.rounds import CHOOSE, Round, RoundError, choice_json
from classroom.observability import logs, metrics
from classroom.rooms.registry import RoomRegistry
from classroom.rooms.room import MAIN_ROOM, SessionMedia
from classroom.signaling.directory import Client, Directory
from classroom.store.errors import StoreUnavailable
from classroom.store.repository import Store
from classroom.store.rounds import RoundStore
from classroom.tasks import cancel_requested

log = logging.getLogger(__name__)

TIMER_INTERVAL_S = 0.5


class Breakouts:
    def __init__(
        self,
        store: Store,
        rounds: RoundStore,
        registry: RoomRegistry,
        directory: Directory,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.rounds = rounds
        self._registry = registry
        self._directory = directory
        self._clock = clock
        #: The open round of each session hosted here, as last applied.
        self._open: dict[str, Round] = {}
        self._warned: set[str] = set()
        #: Facilitators visiting a group: participant id -> group room id.
        self.visiting: dict[str, str] = {}
        #: The `choose` round each hosted session's participants were last shown.
        self._choices: dict[str, Round] = {}

    # --- planning and commands (API and facilitator WebSocket) --------------------------------

    async def present_members(self, session_id: str) -> list[str]:
        """Members connected to the session right now with the participant role, any node."""
        entries = await self._store.list_presence(session_id)
        seen: list[str] = []
        for entry in entries:
            member_id = str(entry.get("member_id") or entry.get("member") or "")
            if entry.get("role", "participant") == Role.participant.value and member_id:
                if member_id not in seen:
                    seen.append(member_id)
        return seen

    async def plan_request(self, session_id: str, cohort_id: str, body: dict[str, Any]) -> Round:
        """`plan` from a validated request (the HTTP body or the `round_plan` message; both
        schemas name the same fields)."""
        return await self.plan(
            session_id,
            cohort_id,
            body.get("strategy", "mix"),
            body["duration_s"],
            prompt=body.get("prompt", ""),
            seed=body.get("seed", 0),
            group_size=body.get("group_size"),
            group_count=body.get("group_count"),
            groups=body.get("groups"),
            member_ids=body.get("member_ids"),
            from_round=body.get("from_round"),
            names=body.get("names"),
            max_size=body.get("max_size"),
            plan_id=body.get("plan_id"),
            plan_round=body.get("plan_round"),
        )

    async def plan(
        self,
        session_id: str,
        cohort_id: str,
        strategy: str,
        duration_s: int,
        prompt: str = "",
        seed: int = 0,
        group_size: int | None = None,
        group_count: int | None = None,
        groups: list[list[str]] | None = None,
        member_ids: list[str] | None = None,
        from_round: str | None = None,
        names: list[str] | None = None,
        max_size: int | None = None,
        plan_id: str | None = None,
        plan_round: int | None = None,
    ) -> Round:
        if strategy not in STRATEGIES:
            raise RoundError("invalid", f"strategy must be one of {', '.join(STRATEGIES)}")
        if max_size is not None and strategy != CHOOSE:
            raise RoundError("invalid", "max_size is for the choose strategy")
        if (plan_id is not None or plan_round is not None) and strategy != "keep":
            raise RoundError("invalid", "plan_id and plan_round are for the keep strategy")
        roster = {m.id: m for m in await self._store.list_members(cohort_id)}
        history = await self.rounds.pair_history(cohort_id)
        if strategy == "manual":
            if not groups:
                raise RoundError("invalid", "the manual strategy needs 'groups'")
            planned = [list(g) for g in groups]
        elif strategy == CHOOSE:
            count = group_count if group_count is not None else len(names or [])
            if count < 1:
                raise RoundError("invalid", "the choose strategy needs 'group_count' (or 'names')")
            if max_size is None:
                members = await self._members(session_id, member_ids, roster)
                max_size = rules.choose_max_size(len(set(members)), count)
            planned = [[] for _ in range(count)]
        else:
            source = None
            if strategy == "keep":  # a bad or missing source is said before who is present
                source = await self._keep_source(
                    session_id, cohort_id, from_round, plan_id, plan_round
                )
            members = await self._members(session_id, member_ids, roster)
            if len(members) < 2:
                raise RoundError("conflict", "at least two participants must be present")
            people = [
                Person(m, roster[m].department, roster[m].location) for m in dict.fromkeys(members)
            ]
            if source is not None:
                planned = self._keep(source, people, history)
            else:
                try:
                    planned = plan_groups(people, history, strategy, seed, group_size, group_count)
                except PlanError as exc:
                    raise RoundError("invalid", str(exc)) from exc
        unknown = [m for g in planned for m in g if m not in roster]
        if unknown:
            raise RoundError("invalid", f"not on the cohort's roster: {', '.join(unknown)}")
        by_id = {m: Person(m, roster[m].department, roster[m].location) for m in roster}
        # A choose round's groups are empty until people pick: nothing to score yet.
        planned_score = {} if strategy == CHOOSE else score(planned, by_id, history).to_json()
        r = rules.new_round(
            session_id,
            cohort_id,
            strategy,
            prompt,
            duration_s,
            planned,
            self._clock(),
            planned_score,
            names,
            max_size if strategy == CHOOSE else None,
        )
        # Participants see a choose round at once (they pick from now on); other plans stay
        # with the facilitator until they open.
        await self.rounds.create(r, publish=strategy == CHOOSE)
        logs.event(
            "round_planned",
            {
                "session_id": session_id,
                "round_id": r.id,
                "strategy": strategy,
                "groups": len(r.groups),
            },
        )
        return r

    async def _members(
        self, session_id: str, member_ids: list[str] | None, roster: dict[str, Member]
    ) -> list[str]:
        """Whom to plan for: `member_ids`, or the participants present; all on the roster."""
        members = member_ids if member_ids is not None else await self.present_members(session_id)
        unknown = [m for m in members if m not in roster]
        if unknown:
            raise RoundError("invalid", f"not on the cohort's roster: {', '.join(unknown)}")
        return members

    async def _keep_source(
        self,
        session_id: str,
        cohort_id: str,
        from_round: str | None,
        plan_id: str | None,
        plan_round: int | None,
    ) -> list[list[str]]:
        """The groups `keep` starts from: an earlier round's, one round of a saved plan, or
        (neither named) the groups prepared for the session before it started."""
        if plan_id is not None:
            if from_round:
                raise RoundError("invalid", "give either 'from_round' or 'plan_id', not both")
            if plan_round is None:
                raise RoundError("invalid", "'plan_id' needs 'plan_round' (0 is the first round)")
            plan = await self.rounds.get_plan(cohort_id, plan_id)
            if plan is None:
                raise RoundError("not_found", f"no saved plan {plan_id} for this cohort")
            try:
                return plan.groups_of(plan_round)
            except PlanError as exc:
                raise RoundError("invalid", str(exc)) from exc
        if plan_round is not None:
            raise RoundError("invalid", "'plan_round' goes with 'plan_id'")
        if not from_round:
            prepared = await self.rounds.prepared_round(session_id)
            if prepared is not None:
                return [list(g) for g in prepared.groups]
            raise RoundError(
                "invalid",
                "the keep strategy needs 'from_round', or 'plan_id' and 'plan_round', "
                "or a prepared round (PUT /api/v1/sessions/{sid}/prepared-round)",
            )
        earlier = await self.rounds.get(from_round)
        if earlier is None or earlier.cohort_id != cohort_id:
            raise RoundError("not_found", f"no round {from_round}")
        return [list(g.member_ids) for g in earlier.groups]

    @staticmethod
    def _keep(
        source: list[list[str]], people: list[Person], history: PairHistory
    ) -> list[list[str]]:
        """The `source` groups for those present (absent members dropped, emptied groups
        left out); present people in none of them are placed as late joiners are."""
        present = {p.id: p for p in people}
        kept = {
            str(i): [present[m] for m in group if m in present] for i, group in enumerate(source)
        }
        kept = {gid: members for gid, members in kept.items() if members}
        if not kept:
            raise RoundError("conflict", "nobody present was in those groups")
        placed = {p.id for members in kept.values() for p in members}
        for person in people:
            if person.id not in placed:
                target = place_late_joiner(person, kept, history)
                kept[target].append(person)
        return [[p.id for p in members] for members in kept.values()]

    async def open(self, round_id: str) -> Round:
        now = self._clock()
        r = await self.rounds.change(round_id, lambda r: rules.opened(r, now), "opened")
        metrics.BREAKOUT_ROUNDS_OPENED.inc()
        logs.event("round_opened", {"session_id": r.session_id, "round_id": r.id})
        return r

    async def close(self, round_id: str, reason: str = "facilitator") -> Round:
        r = await self.rounds.close(round_id, self._clock(), reason)
        metrics.BREAKOUT_ROUNDS_CLOSED.inc()
        logs.event("round_closed", {"session_id": r.session_id, "round_id": r.id, "reason": reason})
        return r

    async def extend(self, round_id: str, seconds: int) -> Round:
        now = self._clock()
        return await self.rounds.change(
            round_id, lambda r: rules.extended(r, seconds, now), "extended"
        )

    async def move(self, round_id: str, member_id: str, group_id: str) -> Round:
        """Put a member into a group of the round; only a member of the round's cohort (an
        id from a client is checked before anything is written)."""
        r = await self.rounds.get(round_id)
        member = await self._store.get_member(member_id)
        if r is None or member is None or member.cohort_id != r.cohort_id:
            raise RoundError("not_found", f"no member {member_id} on this cohort's roster")
        return await self.rounds.change(
            round_id, lambda r: rules.moved(r, member_id, group_id), "moved"
        )

    async def choose(self, round_id: str, member_id: str, group_id: str) -> Round:
        """A participant picks their group of a `choose` round (at most `max_size` a group:
        of two racing for the last seat, one gets it and the other `conflict`)."""
        return await self.rounds.change(
            round_id, lambda r: rules.chosen(r, member_id, group_id), "chosen"
        )

    async def choice_for(self, session_id: str) -> Round | None:
        """The `choose` round the session's participants pick in now: the newest one that is
        planned or open."""
        for r in reversed(await self.rounds.list_rounds(session_id)):
            if r.strategy == CHOOSE and r.status != "closed":
                return r
        return None

    async def broadcast(self, session_id: str, round_id: str, message: str, sender: str) -> None:
        r = await self.rounds.get(round_id)
        if r is None or r.session_id != session_id:
            raise RoundError("not_found", f"no round {round_id} in this session")
        if r.status != "open":
            raise RoundError("conflict", "broadcasts go to the groups of an open round")
        await self.rounds.broadcast(session_id, round_id, message, sender)

    # --- applying published changes -----------------------------------------------------------

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "resync":
            await self.resync()
        elif kind == "round":
            await self.apply(Round.from_json(event["round"]), str(event.get("change", "")))
        elif kind == "broadcast":
            self._deliver_broadcast(event)

    async def resync(self) -> None:
        """Re-read the open round of every session hosted here (after a restart or a lost
        subscription): people land back in their groups with the right remaining time."""
        for media in self._registry.sessions():
            r = await self.rounds.open_round_of(media.session_id)
            if r is not None:
                await self.apply(r, "resync")
            elif media.session_id in self._open:
                closed = self._open[media.session_id]
                await self.apply(rules.closed(closed, self._clock(), "resync"), "closed")

    async def apply(self, r: Round, change: str) -> None:
        media = self._registry.find_session(r.session_id)
        if r.status == "open":
            self._open[r.session_id] = r
        else:
            if self._open.get(r.session_id, r).id == r.id:
                self._open.pop(r.session_id, None)
        metrics.BREAKOUT_ROUNDS_OPEN.set(len(self._open))
        if media is None:
            return
        for client in self._directory.in_room(r.session_id):
            # Facilitators and observers follow every change of the session's rounds.
            if client.role is not Role.participant:
                client.send("round", round=r.to_json())
        if r.strategy == CHOOSE:
            self._show_choice(media, r)
        if r.status == "open":
            self._route_open(media, r, change)
        elif r.status == "closed" and change in ("closed", "resync"):
            await self._route_closed(media, r)

    def _show_choice(self, media: SessionMedia, r: Round) -> None:
        """Participants see the groups of a choose round as they fill (`round_choice`); a
        change to an older choose round does not replace a newer one on their screens."""
        shown = self._choices.get(r.session_id)
        if shown is not None and shown.id != r.id and shown.created_at > r.created_at:
            return
        if r.status == "closed":
            self._choices.pop(r.session_id, None)
        else:
            self._choices[r.session_id] = r
        for client in self._directory.in_room(r.session_id):
            self.show_choice(client, r)

    @staticmethod
    def show_choice(client: Client, r: Round) -> None:
        """Participants follow a `choose` round's groups, and see their own pick."""
        if client.role is Role.participant and client.member is not None:
            mine = r.group_of(client.member.id)
            client.send("round_choice", **choice_json(r), group_id=mine.id if mine else None)

    def _route_open(self, media: SessionMedia, r: Round, change: str) -> None:
        for group in r.groups:
            room = media.open_room(
                group.id,
                "breakout",
                group.name,
                {"round_id": r.id, "prompt": r.prompt, "ends_at": r.ends_at},
            )
            if change == "extended":
                for participant in room.participants.values():
                    self._directory.send(participant, "room_updated", room=room.to_json())
        moves: dict[str, str] = {}
        for participant in media.participants.values():
            if participant.id in self.visiting:
                continue
            assigned = r.group_of(participant.info.member_id)
            if participant.info.role is Role.participant or assigned is not None:
                moves[participant.id] = assigned.id if assigned is not None else MAIN_ROOM
        media.move_many(moves)  # the whole session as one change
        if change == "opened" and r.opened_at is not None:
            metrics.BREAKOUT_SWITCH_SECONDS.observe(max(0.0, self._clock() - r.opened_at))

    async def _route_closed(self, media: SessionMedia, r: Round) -> None:
        started = self._clock()
        group_ids = [group.id for group in r.groups]
        for participant_id, room_id in list(self.visiting.items()):
            if room_id in group_ids:
                del self.visiting[participant_id]
        await media.close_rooms(group_ids)
        metrics.BREAKOUT_SWITCH_SECONDS.observe(max(0.0, self._clock() - started))
        self._warned.discard(r.id)

    def open_round(self, session_id: str) -> Round | None:
        return self._open.get(session_id)

    async def place(self, session_id: str, cohort_id: str, member_id: str, role: Role) -> str:
        """The room a (re)joining member enters: their group while a round is open.

        Asks Redis when this node has not seen the session's round yet (after a restart, or
        the first join here), so people land back in their group with the time left. A
        participant who is in no group of the open round is placed first, the way the
        round's strategy places late joiners (through the store, so every node agrees; in
        a choose round they pick one themselves), and enters that group straight away."""
        r = self._open.get(session_id)
        if r is None:
            r = await self.rounds.open_round_of(session_id)
            if r is not None:
                await self.apply(r, "resync")
        if r is None:
            return MAIN_ROOM
        group = r.group_of(member_id)
        if group is not None:
            return group.id
        if role is not Role.participant or r.strategy == CHOOSE or not r.groups:
            return MAIN_ROOM
        target = await self._late_joiner_group(r, cohort_id, member_id)
        try:
            placed = await self.move(r.id, member_id, target)
        except RoundError as exc:
            log.info("could not place late joiner %s: %s", member_id, exc)
            return MAIN_ROOM
        group = placed.group_of(member_id) if placed.status == "open" else None
        return group.id if group is not None else MAIN_ROOM

    def ensure_rooms(self, media: SessionMedia) -> None:
        """The group rooms of the session's open round exist in `media` (synchronous)."""
        r = self._open.get(media.session_id)
        if r is None:
            return
        for group in r.groups:
            if group.id not in media.rooms:
                media.open_room(
                    group.id,
                    "breakout",
                    group.name,
                    {"round_id": r.id, "prompt": r.prompt, "ends_at": r.ends_at},
                )

    async def _late_joiner_group(self, r: Round, cohort_id: str, member_id: str) -> str:
        roster = {m.id: m for m in await self._store.list_members(cohort_id)}
        history = await self.rounds.pair_history(cohort_id)

        def person(m: str) -> Person:
            member = roster.get(m)
            return Person(m, member.department if member else "", member.location if member else "")

        groups = {g.id: [person(m) for m in g.member_ids] for g in r.groups}
        return place_late_joiner(person(member_id), groups, history)

    def visit(self, media: SessionMedia, participant_id: str, group_id: str | None) -> bool:
        """A facilitator joins a group (or returns to the main room when `group_id` is None)."""
        if group_id is None:
            self.visiting.pop(participant_id, None)
            return media.move(participant_id, MAIN_ROOM)
        if group_id not in media.rooms or group_id == MAIN_ROOM:
            raise RoundError("not_found", f"no open group {group_id}")
        self.visiting[participant_id] = group_id
        return media.move(participant_id, group_id)

    def _deliver_broadcast(self, event: dict[str, Any]) -> None:
        media = self._registry.find_session(str(event.get("session_id", "")))
        if media is None:
            return
        for participant in list(media.participants.values()):
            self._directory.send(
                participant,
                "broadcast",
                message=str(event.get("message", "")),
                sender=str(event.get("from", "")),
            )

    # --- the clock ----------------------------------------------------------------------------

    async def keep_time(self, interval_s: float = TIMER_INTERVAL_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.tick()
            except StoreUnavailable as exc:
                if cancel_requested():  # the cancel came back as redis-py's own error
                    raise asyncio.CancelledError from exc
                # the store is restarting (its supervisor says so): the next tick tries
            except Exception as exc:
                if cancel_requested():
                    raise asyncio.CancelledError from exc
                log.exception("breakout timer failed")

    async def tick(self) -> None:
        now = self._clock()
        # Rounds of any node whose time is up, including sessions nobody is connected to.
        for rid in await self.rounds.due(now):
            if all(r.id != rid for r in self._open.values()):
                try:
                    await self.close(rid, "timer")
                except RoundError:
                    pass
        for session_id, r in list(self._open.items()):
            if r.ends_at is None:
                continue
            remaining = r.ends_at - now
            if remaining <= rules.WARNING_S and r.id not in self._warned and remaining > 0:
                self._warned.add(r.id)
                media = self._registry.find_session(session_id)
                if media is not None:
                    for participant in list(media.participants.values()):
                        self._directory.send(
                            participant, "round_warning", seconds_left=round(remaining)
                        )
            if remaining <= 0:
                try:
                    await self.close(r.id, "timer")
                except RoundError:
                    pass  # another node (or the facilitator) closed it first
