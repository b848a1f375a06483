"""Publications and the slots that forward them: the packet path of the media plane.

A `Publication` is one track a participant sends us. A `SendSlot` is one sendonly
transceiver on a subscriber's peer connection; the room points it at a publication (or at
nothing). Moving people between rooms is re-pointing slots: no new connection, no new ICE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiortc.rtp import RtpPacket

from classroom.observability import metrics
from classroom.rooms import fanout
from classroom.rooms.camera_layers import Layer
from classroom.rooms.fanout import RtpStream
from classroom.rooms.resend import History, Resend
from classroom.rooms.rtp import (
    abs_send_time_element,
    audio_level_element,
    vp8_keyframe_size,
    vp8_keyframe_start,
)

log = logging.getLogger(__name__)

#: Keyframe requests to one publisher, however many slots wait: at most one per interval
#: while a request is outstanding (no keyframe since it), so thirty subscribers arriving at
#: once cost it one keyframe. A request that brings no keyframe a waiting slot can start at
#: (the PLI or the keyframe was lost, or came late) is sent again after this interval, and
#: then every KEYFRAME_RETRY_INTERVAL_S for as long as a slot waits: a publisher that is
#: slow to answer (a busy machine) is not made busier by a keyframe every half second.
KEYFRAME_REQUEST_INTERVAL_S = 0.5
KEYFRAME_RETRY_INTERVAL_S = 1.0
#: A publisher from whom nothing came for this long is not sending (no camera, a track
#: removed): it is not asked for keyframes, and its waiting slots are not counted as stuck.
#: (Browsers send a disabled camera's black frames about once a second.)
PUBLISHER_IDLE_S = 2.0
#: Audio quieter than this (-dBov, RFC 6464) for longer than the hangover is silence and
#: not forwarded. -60 dBov is below any voice but above digital silence (127) and the
#: comfort noise browsers send when muted; the hangover keeps the tails of words.
SILENCE_DBOV = 60
SILENCE_HANGOVER_S = 0.5
#: Seconds from 1900 (NTP epoch) to 1970 (Unix epoch).
_NTP_EPOCH_OFFSET = 2208988800
#: A packet this far behind the newest one of its stream is a late one (a retransmission
#: answering a NACK, or reordered); further behind, the publisher restarted its sequence.
MAX_LATE_PACKETS = 1024
#: A subscriber that just connected waits at most this long after the last request.
URGENT_KEYFRAME_INTERVAL_S = 0.1
#: 1 in 64 packets is timed for the forwarding-time histogram.
_SAMPLE_MASK = 63

AudioLevelSink = Callable[[str, bool, int], None]
#: `NativeStream.resend` verdicts by its result (3, "the socket took nothing": answered,
#: and lost on the way like any packet).
_NATIVE_RESEND = (Resend.SEND, Resend.TOO_SOON, Resend.GONE, Resend.SEND)
_NATIVE_PACKETS = metrics.FANOUT["native"]
_PYTHON_PACKETS = metrics.FANOUT["python"]


class PacketOutput(Protocol):
    """Where a slot's packets go: the subscriber's transport (see aiortc_hooks.SenderHook)."""

    async def send(self, data: bytes) -> None: ...

    def send_now(self, data: bytes) -> bool: ...

    def closed(self) -> bool: ...

    def account(
        self, packets: int, octets: int, ntp_timestamp: int, rtp_timestamp: int
    ) -> None: ...

    def native_transport(self) -> Any: ...

    def count_from(self, counters: Callable[[], tuple[int, int, int, int]]) -> None: ...


class SendSlot:
    """One outbound stream to one subscriber.

    A video slot pointed at a publication forwards nothing until a keyframe starts (a
    decoder can only begin there); its publication keeps asking the publisher for one
    while any of its slots waits (`awaiting_keyframe`).
    """

    __slots__ = (
        "_await_keyframe",
        "_history",
        "_native",
        "_octets",
        "_on_first_packet",
        "_output",
        "_packets",
        "_waiting_since",
        "kind",
        "layer",
        "mid",
        "negotiated",
        "source",
        "stream",
        "target",
    )

    def __init__(
        self,
        kind: str,
        mid: str,
        stream: RtpStream,
        output: PacketOutput,
    ) -> None:
        self.kind = kind
        self.mid = mid
        self.stream = stream
        self._output = output
        self.source: Publication | None = None
        #: The subscriber has applied an answer that contains this slot.
        self.negotiated = False
        self._packets = 0
        self._octets = 0
        #: The stream is kept in C (`fanout.NativeStream`): it counts what is sent (either
        #: way), and its packets go out with `fanout.send_all` while the subscriber's
        #: selected pair is a plain UDP socket.
        self._native: Any = stream if fanout.is_native(stream) else None
        if self._native is not None:
            native: Any = self._native
            output.count_from(
                lambda: (native.packets, native.octets, native.last_ntp, native.last_timestamp)
            )
        self._await_keyframe = kind == "video"
        #: Since when the slot waits for a keyframe with a subscriber to send it to (None:
        #: not waiting, or the subscriber is not connected, which no keyframe can help).
        self._waiting_since: float | None = None
        self._history = History() if kind == "video" else None
        self._on_first_packet: Callable[[], None] | None = None
        #: The source's layer (RID; "" for one stream) this slot should carry, None while
        #: its tile is not shown; and the layer it carries now (None: nothing yet). A
        #: switch waits for a keyframe of the target layer (`admit`).
        self.target: str | None = ""
        self.layer: str | None = None

    @property
    def packets(self) -> int:
        return int(self._native.packets) if self._native is not None else self._packets

    @property
    def dropped(self) -> int:
        """Packets the native fan-out protected but could not hand to the socket (its
        buffer was full): lost on the way, as far as the subscriber can tell."""
        return int(self._native.dropped) if self._native is not None else 0

    @property
    def octets(self) -> int:
        return int(self._native.octets) if self._native is not None else self._octets

    def on_first_packet(self, callback: Callable[[], None] | None) -> None:
        self._on_first_packet = callback
        self._changed()

    def _changed(self) -> None:
        """Something the per-slot loop of `Publication.on_packet` reads changed: its
        steady batches no longer hold."""
        if self.source is not None:
            self.source.forget_batches()

    @property
    def awaiting_keyframe(self) -> bool:
        """Forwarding nothing until a keyframe, to a subscriber that can receive it."""
        return self._await_keyframe and self._waiting_since is not None

    def attach(self, publication: Publication | None) -> None:
        """Carry `publication` from its next keyframe on (or nothing)."""
        if publication is self.source:
            return
        self._set_layer(None)
        if self.source is not None:
            self.source.slots.remove(self)
            self.source.demand_changed = True
            self.source.forget_batches()
            metrics.SUBSCRIPTIONS.labels(self.source.kind).dec()
        self.source = publication
        self.stream.rebase()
        self._await_keyframe = self.kind == "video"
        self._waiting_since = None
        if publication is not None:
            publication.slots.append(self)
            publication.demand_changed = True
            publication.forget_batches()
            metrics.SUBSCRIPTIONS.labels(publication.kind).inc()
            if self.target is not None:
                self.target = publication.default_layer()
            # A subscriber whose transport has closed gets nothing: no keyframe is asked
            # for on its behalf (it is about to leave, or has failed).
            if self._await_keyframe and self.target is not None and not self._output.closed():
                self._waiting_since = time.monotonic()
                publication.want_keyframe(rid=self.target)

    def set_target(self, rid: str | None) -> None:
        """Carry layer `rid` of the source from its next keyframe on (None: no video until
        a layer is set again). Until that keyframe the slot keeps its current layer."""
        if rid == self.target:
            return
        self.target = rid
        source = self.source
        if source is not None:
            source.demand_changed = True
            source.forget_batches()
        if rid is None:
            # Hidden: nothing goes out, and a decoder needs a keyframe to show it again.
            self._set_layer(None)
            self._await_keyframe = self.kind == "video"
            self._waiting_since = None
            return
        if source is None or self._output.closed():
            return
        if self.layer is None and self._waiting_since is None:
            self._waiting_since = time.monotonic()
        if rid != self.layer:
            source.want_keyframe(rid=rid)

    def admit(self, rid: str, keyframe: bool) -> bool:
        """Whether a video packet of layer `rid` goes to this slot: the decision before the
        send (`forward`). The current layer's packets go until a keyframe of the target
        layer arrives; from that keyframe on only the target's, with the outbound sequence
        numbers and timestamps following on (`OutboundStream.rebase`)."""
        target = self.target
        if rid == self.layer:
            return target is not None
        if rid != target or not keyframe:
            return False
        if self.layer is not None:
            metrics.LAYER_SWITCHES.labels(
                "up" if _rank(self.source, rid) > _rank(self.source, self.layer) else "down"
            ).inc()
        self._set_layer(rid)
        self.stream.rebase()
        return True

    def keyframe_layer(self) -> str | None:
        """The layer this slot waits for a keyframe of (to start, or to switch to)."""
        target = self.target
        if target is None:
            return None
        if self.awaiting_keyframe or (self.layer is not None and target != self.layer):
            return target
        return None

    def _set_layer(self, rid: str | None) -> None:
        if rid == self.layer:
            return
        self._changed()
        if self.layer is not None:
            metrics.FORWARDED_LAYERS.labels(_layer_label(self.source, self.layer)).dec()
        self.layer = rid
        if rid is not None:
            metrics.FORWARDED_LAYERS.labels(_layer_label(self.source, rid)).inc()

    def forward(
        self,
        packet: RtpPacket,
        seq: int,
        keyframe: bool,
        ext_dynamic: bytes,
        now: float,
        ntp: int,
    ) -> bytes | None:
        """Rewrite and send one packet (`seq`: its sequence number with the publication's
        dropped silence taken out); returns it when it must go out the slow (awaited) way."""
        if not self.takes(keyframe):
            return None
        return self.forward_taken(packet, seq, ext_dynamic, now, ntp)

    def takes(self, keyframe: bool) -> bool:
        """Whether the slot forwards this packet (a video slot waits for a keyframe)."""
        if self._await_keyframe:
            if not keyframe:
                # The publication keeps asking for one while this slot waits.
                return False
            self._await_keyframe = False
            self._changed()
            metrics.KEYFRAMES_FORWARDED.inc()
        return True

    def native_failed(self) -> None:
        """The native send found the socket unusable (closed under us)."""
        self._lost_connection()

    def native_sent(self) -> None:
        """After a native send: what `_sent` does beyond counting (the C stream counts)."""
        if self._waiting_since is not None and not self._await_keyframe:
            self._served()
        if self._on_first_packet is not None:
            callback, self._on_first_packet = self._on_first_packet, None
            callback()

    def forward_taken(
        self, packet: RtpPacket, seq: int, ext_dynamic: bytes, now: float, ntp: int
    ) -> bytes | None:
        """`forward` for a packet the slot takes (`takes`), the Python way."""
        seq, data = self.stream.build(
            seq,
            packet.timestamp,
            packet.marker,
            packet.payload,
            ext_dynamic,
            now,
        )
        if self._history is not None:
            self._history.keep(seq, data)
        try:
            if not self._output.send_now(data):
                return data
        except ConnectionError:
            self._lost_connection()
            return None
        self._sent(len(packet.payload), ntp)
        return None

    async def send_later(self, data: bytes, payload_len: int, ntp: int) -> None:
        try:
            await self._output.send(data)
        except ConnectionError:
            self._lost_connection()
            return
        self._sent(payload_len, ntp)

    def connected(self) -> None:
        """The subscriber's transport is up: a slot still waiting for a keyframe asks now."""
        self._changed()
        if self._await_keyframe and self.source is not None and self.target is not None:
            if self._waiting_since is None:
                self._waiting_since = time.monotonic()
            self.source.want_keyframe(urgent=True, rid=self.target)

    def transport_closed(self) -> None:
        """The subscriber's transport closed (or failed): the slot no longer waits for a
        keyframe, so its publication stops asking its publisher for them."""
        self._waiting_since = None

    def _lost_connection(self) -> None:
        # Not connected yet (or gone): whatever the subscriber missed, it needs a fresh
        # keyframe to start decoding, but asking for one helps only once it is connected
        # (`connected`); until then the slot does not count as waiting.
        self._await_keyframe = self.kind != "audio"
        self._waiting_since = None
        self._set_layer(None)
        self._changed()

    def _sent(self, payload_len: int, ntp: int) -> None:
        if self._native is not None:
            self._native.count(payload_len, ntp, time.monotonic())
        else:
            self._packets += 1
            self._octets += payload_len
            self._output.account(self._packets, self._octets, ntp, self.stream.last_timestamp)
        if self._waiting_since is not None and not self._await_keyframe:
            self._served()
        if self._on_first_packet is not None:
            callback, self._on_first_packet = self._on_first_packet, None
            callback()

    def _served(self) -> None:
        """The keyframe the slot waited for is out: the wait ends (counted from when the
        publisher started sending, if it was not sending when the wait began)."""
        since, self._waiting_since = self._waiting_since, None
        source = self.source
        if since is not None and source is not None:
            started = max(since, source.sending_since)
            metrics.KEYFRAME_WAIT_SECONDS.observe(max(0.0, time.monotonic() - started))

    async def retransmit(self, lost: list[int]) -> None:
        """Answer a subscriber's NACK from this slot's history (see `resend`)."""
        history = self._history
        if history is None:
            return
        now = time.monotonic()
        native = self._native
        if native is not None and native.transport is not None:
            # Sent natively: the C stream kept the protected packets and sends them again.
            for seq in lost:
                verdict = _NATIVE_RESEND[native.resend(seq, now)]
                metrics.NACKS.labels(verdict.value).inc()
            return
        for seq in lost:
            verdict, data = history.resend(seq, now)
            metrics.NACKS.labels(verdict.value).inc()
            if verdict is Resend.SEND:
                try:
                    await self._output.send(data)
                except ConnectionError:
                    return

    def keyframe_requested(self) -> None:
        metrics.KEYFRAME_REQUESTS.labels("in").inc()
        if self.source is not None and self.target is not None:
            self.source.want_keyframe(rid=self.layer if self.layer is not None else self.target)

    def close(self) -> None:
        self.attach(None)


def _rank(source: Publication | None, rid: str) -> tuple[int, int]:
    layer = source.layers.get(rid) if source is not None else None
    return layer.sort_key() if layer is not None else (0, 0)


def _layer_label(source: Publication | None, rid: str) -> str:
    """The forwarded-layer metric's label: screen, one (a camera without simulcast) or the
    camera layer's RID."""
    if source is None or source.kind == "audio":
        return "audio"
    if source.kind == "screen":
        return "screen"
    return rid or "one"


class Publication:
    """One track a participant sends; fans its packets out to the slots attached to it.

    `kind` is audio, video or screen; a screen share is video on the wire (`media_kind`)
    and rides video slots. A publication is offered to subscribers only while it is both
    `active` (the server allows it: a screen being shared, a microphone no facilitator
    locked) and `on` (the publisher says it sends: a camera switched on at the join or
    later, a microphone it has). One that is not offered takes no slot in anyone's pool and
    costs nothing: a room of 40 with most cameras off does not pay for them.
    """

    def __init__(
        self,
        participant_id: str,
        kind: str,
        request_keyframe: Callable[[int], Awaitable[None]],
        on_audio_level: AudioLevelSink | None = None,
        active: bool = True,
        on: bool = True,
    ) -> None:
        self.participant_id = participant_id
        self.kind = kind
        self.media_kind = "audio" if kind == "audio" else "video"
        self.active = active
        self.on = on
        self.slots: list[SendSlot] = []
        self.media_ssrc: int | None = None
        #: Video layers by RID ("" for one stream), as the packets showed them.
        self.layers: dict[str, Layer] = {}
        #: Called when a layer appears or its resolution changes (the room re-runs the
        #: layer choice of the slots carrying this publication).
        self.on_layers_changed: Callable[[Publication], None] | None = None
        self._keyframe_rids: set[str | None] = set()
        #: Which layers slots target changed since the room last told the publisher
        #: (`layers`); and the layers the room has switched off at the publisher, which
        #: stay choosable although they send nothing.
        self.demand_changed = False
        self.paused_rids: frozenset[str] = frozenset()
        #: Layers that stopped by themselves (the browser's own adaptation): not chosen.
        self._idle_rids: set[str] = set()
        self.packets = 0
        self._request_keyframe = request_keyframe
        self._on_audio_level = on_audio_level
        self._last_keyframe_request = float("-inf")
        self._keyframe_wanted = False
        self._keyframe_urgent = False
        self._last_loud = -SILENCE_HANGOVER_S
        self._last_keyframe_at = float("-inf")
        self._silence_dropped = 0
        self._keyframe_wake = asyncio.Event()
        self._keyframe_task: asyncio.Task[None] | None = None
        self._last_packet_at = float("-inf")
        #: When the publisher (re)started sending after being idle.
        self.sending_since = 0.0
        self._in_tally = metrics.RTP[kind, "in"]
        self._out_tally = metrics.RTP[kind, "out"]
        self._closed = False
        #: By layer (RID, "" for audio and one stream): (`fanout.route_epoch`, the native
        #: streams, their slots) that the last full per-slot loop sent a non-keyframe
        #: packet of that layer to, all natively and with nothing left to do after the
        #: send. The next such packet goes straight to them (`on_packet`) while no slot
        #: changed (`forget_batches`) and no route did (the epoch).
        self._steady: dict[str, tuple[int, list[Any], list[SendSlot]]] = {}
        self._slot_changes = 0
        if self.offered:
            metrics.PUBLICATIONS.labels(kind).inc()

    def forget_batches(self) -> None:
        """A slot of this publication changed what the per-slot loop decides for it."""
        self._steady.clear()
        self._slot_changes += 1

    @property
    def steady_batches(self) -> int:
        """Layers whose next non-keyframe packet skips the per-slot loop (for tests)."""
        return len(self._steady)

    @property
    def offered(self) -> bool:
        """Subscribers may be pointed at it: allowed by the server and sent by the publisher."""
        return self.active and self.on and not self._closed

    def set_active(self, active: bool) -> bool:
        """Allow this publication to be offered to subscribers (or stop); False if nothing
        changed. The caller re-balances the room; slots still attached here are detached
        now."""
        if active == self.active or self._closed:
            return False
        was = self.offered
        self.active = active
        self._offer_changed(was)
        return True

    def set_on(self, on: bool) -> bool:
        """The publisher started (or stopped) sending this track (its `media_state`); False
        if nothing changed. The caller re-balances the room, as for `set_active`."""
        if on == self.on or self._closed:
            return False
        was = self.offered
        self.on = on
        self._offer_changed(was)
        return True

    def _offer_changed(self, was: bool) -> None:
        now = self.offered
        if now == was:
            return
        metrics.PUBLICATIONS.labels(self.kind).inc(1 if now else -1)
        if not now:
            for slot in tuple(self.slots):
                slot.attach(None)

    def sending(self, now: float) -> bool:
        """The publisher sent something lately (it can be asked for a keyframe)."""
        return self.media_ssrc is not None and now - self._last_packet_at <= PUBLISHER_IDLE_S

    def slots_awaiting_keyframe(self) -> int:
        return sum(1 for slot in self.slots if slot.awaiting_keyframe)

    def layer_options(self) -> list[Layer]:
        """Its video layers that can be forwarded, low to high (the screen: only the
        highest): sending, or paused by us (`paused_rids`, switched on when chosen). A
        layer the publisher stopped by itself (a browser short of bandwidth or CPU drops
        its top layer) is left out until it sends again."""
        layers = sorted(
            (
                layer
                for rid, layer in self.layers.items()
                if rid not in self._idle_rids or rid in self.paused_rids
            ),
            key=Layer.sort_key,
        )
        return layers[-1:] if self.kind == "screen" else layers

    def _check_idle_layers(self, now: float) -> bool:
        """Note layers that stopped or started again by themselves; True if any did."""
        idle = {
            rid
            for rid, layer in self.layers.items()
            if now - layer.last_packet_at > PUBLISHER_IDLE_S
        }
        if idle == self._idle_rids:
            return False
        self._idle_rids = idle
        return True

    def default_layer(self) -> str:
        """The layer a slot starts with before the layer choice has run: the highest up to
        360 lines, for a tile of the default size ("" before any layer is known)."""
        layers = self.layer_options()
        if not layers:
            return ""
        fitting = [layer for layer in layers if layer.effective_height >= 360]
        return (fitting[0] if fitting else layers[-1]).rid

    def want_keyframe(self, urgent: bool = False, rid: str | None = None) -> None:
        """Ask the publisher for a keyframe soon: at most once per interval, or sooner when
        `urgent` (a subscriber just connected and has nothing to show). `rid`: of that
        layer only (None: of every layer a slot waits on, or the newest stream)."""
        if self.media_kind != "video" or self._closed:
            return
        self._keyframe_wanted = True
        self._keyframe_rids.add(rid)
        if urgent:
            self._keyframe_urgent = True
            self._keyframe_wake.set()
        if self._keyframe_task is None or self._keyframe_task.done():
            self._keyframe_task = asyncio.get_running_loop().create_task(self._request_keyframes())

    async def _request_keyframes(self) -> None:
        """Ask the publisher for keyframes while one is wanted (`want_keyframe`) or a slot
        still waits for one to start at, and the publisher is sending; one task per
        publication, so the throttle holds however many slots wait.

        Waiting slots are not left to a request or a keyframe that got lost: the request is
        repeated (KEYFRAME_REQUEST_INTERVAL_S, then KEYFRAME_RETRY_INTERVAL_S) until a
        keyframe that every waiting slot starts at goes by. A publisher that sends nothing
        is not asked; it is asked again when it starts (`on_packet`)."""
        unanswered = 0  # requests sent since the last keyframe
        while not self._closed:
            now = time.monotonic()
            ssrcs = self._keyframe_ssrcs(now)
            if (
                not ssrcs
                or not self.sending(now)
                or (
                    not (self._keyframe_wanted or self.slots_awaiting_keyframe())
                    and not any(slot.keyframe_layer() is not None for slot in self.slots)
                )
            ):
                self._keyframe_wanted = self._keyframe_urgent = False
                self._keyframe_rids.clear()
                return
            # The long interval only holds while a request is outstanding (no keyframe since
            # it): a slot that arrives just after a keyframe went by need not wait it out.
            last_keyframe = min(
                (layer.last_keyframe_at for layer in self.layers.values() if layer.ssrc in ssrcs),
                default=self._last_keyframe_at,
            )
            outstanding = self._last_keyframe_request > last_keyframe
            if not outstanding:
                unanswered = 0
            if self._keyframe_urgent or not outstanding:
                interval = URGENT_KEYFRAME_INTERVAL_S
            elif unanswered < 2:
                interval = KEYFRAME_REQUEST_INTERVAL_S
            else:
                interval = KEYFRAME_RETRY_INTERVAL_S
            wait = self._last_keyframe_request + interval - now
            if wait > 0:
                self._keyframe_wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._keyframe_wake.wait(), wait)
                continue
            self._keyframe_wanted = self._keyframe_urgent = False
            self._keyframe_rids.clear()
            self._last_keyframe_request = now
            unanswered += 1
            for ssrc in ssrcs:
                metrics.KEYFRAME_REQUESTS.labels("out").inc()
                if outstanding:
                    metrics.KEYFRAME_RETRIES.inc()
                try:
                    await self._request_keyframe(ssrc)
                except ConnectionError:
                    return

    def _keyframe_ssrcs(self, now: float) -> set[int]:
        """The SSRCs to ask for a keyframe: of each layer asked for (`want_keyframe`) or
        that a slot waits on and that is sending; the newest stream for a request of no
        particular (or no known) layer."""
        rids = set(self._keyframe_rids)
        rids.update(slot.keyframe_layer() for slot in self.slots)
        rids.discard(None)
        ssrcs: set[int] = set()
        for rid in rids:
            layer = self.layers.get(rid) if rid is not None else None
            if layer is not None and now - layer.last_packet_at <= PUBLISHER_IDLE_S:
                ssrcs.add(layer.ssrc)
        if not ssrcs and self.media_ssrc is not None:
            ssrcs.add(self.media_ssrc)
        return ssrcs

    async def on_packet(self, packet: RtpPacket) -> None:
        """The tap on this publication's receiver: runs once per inbound packet."""
        self.media_ssrc = packet.ssrc
        self.packets += 1
        payload_len = len(packet.payload)
        tally = self._in_tally
        tally.packets += 1
        tally.octets += payload_len
        kind = self.kind
        now = time.monotonic()
        fresh = False
        resumed = False
        rid = ""
        layer: Layer | None = None
        if kind != "audio":
            rid = packet.extensions.rtp_stream_id or ""
            layer = self.layers.get(rid)
            if layer is None or layer.ssrc != packet.ssrc:
                layer = self.layers[rid] = Layer(rid, packet.ssrc, now)
                if self.on_layers_changed is not None:
                    self.on_layers_changed(self)
            if layer.count(payload_len, now) and self._check_idle_layers(now):
                if self.on_layers_changed is not None:
                    self.on_layers_changed(self)
            # In order, or late: a keyframe start up to MAX_LATE_PACKETS older than the
            # layer's newest packet arrived late (retransmitted after a loss, or reordered),
            # after packets that followed it, and no slot can start there. Further back is
            # a restarted sequence.
            seq16 = packet.sequence_number
            newest = layer.newest_seq
            fresh = newest < 0 or ((newest - seq16) & 0xFFFF) > MAX_LATE_PACKETS
            if fresh:
                layer.newest_seq = seq16
            resumed = now - self._last_packet_at > PUBLISHER_IDLE_S
            if resumed:
                self.sending_since = now
            self._last_packet_at = now
        level = packet.extensions.audio_level if kind == "audio" else None
        if level is not None:
            if self._on_audio_level is not None:
                self._on_audio_level(self.participant_id, level[0], level[1])
            if level[1] <= SILENCE_DBOV:
                self._last_loud = now
            elif now - self._last_loud > SILENCE_HANGOVER_S:
                # Silence is not forwarded (RFC 6464 level, from the publisher's header):
                # in a room of 30 most microphones are quiet most of the time. Sequence
                # numbers stay continuous for subscribers, as with DTX.
                self._silence_dropped = (self._silence_dropped + 1) & 0xFFFF
                return
        slots = self.slots
        if not slots:
            return
        seq = (packet.sequence_number - self._silence_dropped) & 0xFFFF
        sampled = (self.packets & _SAMPLE_MASK) == 0
        started = time.perf_counter() if sampled else 0.0
        # NTP time (RFC 3550 64-bit fixed point) from the wall clock, without a datetime.
        ntp = int((time.time() + _NTP_EPOCH_OFFSET) * 4294967296.0)
        keyframe = fresh and vp8_keyframe_start(packet.payload)
        if keyframe and layer is not None:
            # Every slot waiting for a keyframe takes this one: no further request needed.
            self._last_keyframe_at = now
            layer.last_keyframe_at = now
            if len(self.layers) == 1:
                self._keyframe_wanted = False
            size = vp8_keyframe_size(packet.payload)
            if size is not None and size != (layer.width, layer.height):
                layer.width, layer.height = size
                if self.on_layers_changed is not None:
                    self.on_layers_changed(self)
        elif resumed and self.slots_awaiting_keyframe():
            # Slots waited on a publisher that sent nothing: ask now it sends again.
            self.want_keyframe()
        # Every subscriber of a kind negotiated the same extension ids (the server offers
        # them), so the per-packet extension element is built once, not once per slot.
        cached_id = -1
        ext_dynamic = b""
        sent = 0
        batch: list[Any]
        batch_slots: list[SendSlot]
        after: list[int] = []  # slots in the batch with more to do once sent (native_sent)
        steady = (
            self._steady.get(rid) if not keyframe and payload_len <= fanout.MAX_PAYLOAD else None
        )
        if steady is not None and steady[0] == fanout.route_epoch:
            # Nothing changed since the last packet of this layer: the same streams, and
            # none of the per-slot checks below (~2.7 µs of Python per sent packet hot,
            # bench/fanout.py: a quarter of what the process spends on it).
            _, batch, batch_slots = steady
            loop: tuple[SendSlot, ...] = ()
        else:
            batch, batch_slots = [], []
            loop = tuple(slots)
        epoch, changes = fanout.route_epoch, self._slot_changes
        python_path = False
        for slot in loop:
            if slot.source is not self:
                continue  # re-pointed while an earlier send of this packet awaited
            if (
                layer is not None
                and (rid != slot.layer or slot.target is None)
                and not slot.admit(rid, keyframe)
            ):
                continue  # not this slot's layer (or its tile is not shown)
            if slot._await_keyframe and not slot.takes(keyframe):
                continue
            if slot._native is not None and payload_len <= fanout.MAX_PAYLOAD:
                # Native while the subscriber's pair is plain UDP (inline: this loop runs per
                # slot per packet); a relayed pair goes the Python way below.
                try:
                    transport = slot._output.native_transport()
                except ConnectionError:
                    slot.native_failed()
                    continue
                native = slot._native
                if transport is not None:
                    if native.transport is not transport:
                        native.transport = transport
                    batch.append(native)
                    if slot._waiting_since is not None or slot._on_first_packet is not None:
                        after.append(len(batch_slots))
                    batch_slots.append(slot)
                    continue
                if native.transport is not None:
                    native.transport = None  # relayed now: NACKs go the Python way
            python_path = True
            dyn_id = slot.stream.ext.dynamic_id
            if dyn_id != cached_id:
                cached_id = dyn_id
                if not dyn_id:
                    ext_dynamic = b""
                elif kind == "audio":
                    voice, lvl = level or (False, 127)
                    ext_dynamic = audio_level_element(dyn_id, voice, lvl)
                else:
                    ext_dynamic = abs_send_time_element(dyn_id, ntp)
            before = slot.packets
            try:
                pending = slot.forward_taken(packet, seq, ext_dynamic, now, ntp)
                if pending is not None:
                    await slot.send_later(pending, payload_len, ntp)
            except Exception:
                # One subscriber's broken slot must not stop this publisher's packets to
                # everyone else (an exception here would end aiortc's receive loop).
                log.exception("forwarding to slot %s failed; the slot is detached", slot.mid)
                slot.attach(None)
                continue
            if slot.packets != before:
                sent += 1
        if (
            loop
            and not keyframe
            and not python_path
            and not after
            and changes == self._slot_changes
            and epoch == fanout.route_epoch
        ):
            self._steady[rid] = (epoch, batch, batch_slots)
        natively = 0
        if batch:
            voice, lvl = level or (False, 127)
            try:
                failed = fanout.send_all(
                    batch,
                    packet.payload,
                    seq,
                    packet.timestamp,
                    packet.marker,
                    voice,
                    lvl,
                    ntp,
                    now,
                )
            except Exception:
                # As for one slot below: nothing may end aiortc's receive loop. The slots
                # start again at a keyframe.
                log.exception("the native fan-out failed for %d slots", len(batch))
                failed = list(range(len(batch)))
            natively = len(batch)
            if failed:
                for i in failed:
                    batch_slots[i].native_failed()
                natively -= len(failed)
            _NATIVE_PACKETS.packets += natively
            for i in after:
                if not failed or i not in failed:
                    batch_slots[i].native_sent()
        if sent:
            _PYTHON_PACKETS.packets += sent
        sent += natively
        if sent:
            tally = self._out_tally
            tally.packets += sent
            tally.octets += payload_len * sent
        if sampled:
            metrics.FORWARD_SECONDS.observe(time.perf_counter() - started)

    async def close(self) -> None:
        if self._closed:
            return
        was = self.offered
        self._closed = True
        for slot in tuple(self.slots):
            slot.attach(None)
        if self._keyframe_task is not None:
            self._keyframe_task.cancel()
            try:
                await self._keyframe_task
            except asyncio.CancelledError:
                pass
        if was:
            metrics.PUBLICATIONS.labels(self.kind).dec()
