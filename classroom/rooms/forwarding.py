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
from typing import Protocol

from aiortc.rtp import RtpPacket

from classroom.observability import metrics
from classroom.rooms.rtp import (
    OutboundStream,
    abs_send_time_element,
    audio_level_element,
    vp8_keyframe_start,
)

log = logging.getLogger(__name__)

#: aiortc's sender keeps 128 packets for NACKs; so do we, per video slot.
HISTORY = 128
KEYFRAME_REQUEST_INTERVAL_S = 0.5
#: Audio quieter than this (-dBov, RFC 6464) for longer than the hangover is silence and
#: not forwarded. -60 dBov is below any voice but above digital silence (127) and the
#: comfort noise browsers send when muted; the hangover keeps the tails of words.
SILENCE_DBOV = 60
SILENCE_HANGOVER_S = 0.5
#: Seconds from 1900 (NTP epoch) to 1970 (Unix epoch).
_NTP_EPOCH_OFFSET = 2208988800
#: A subscriber that just connected waits at most this long after the last request.
URGENT_KEYFRAME_INTERVAL_S = 0.1
#: 1 in 64 packets is timed for the forwarding-time histogram.
_SAMPLE_MASK = 63

AudioLevelSink = Callable[[str, bool, int], None]


class PacketOutput(Protocol):
    """Where a slot's packets go: the subscriber's transport (see aiortc_hooks.SenderHook)."""

    async def send(self, data: bytes) -> None: ...

    def send_now(self, data: bytes) -> bool: ...

    def account(
        self, packets: int, octets: int, ntp_timestamp: int, rtp_timestamp: int
    ) -> None: ...


class SendSlot:
    """One outbound stream to one subscriber."""

    __slots__ = (
        "_await_keyframe",
        "_hist_data",
        "_hist_seq",
        "_on_first_packet",
        "_output",
        "kind",
        "mid",
        "negotiated",
        "octets",
        "packets",
        "source",
        "stream",
    )

    def __init__(
        self,
        kind: str,
        mid: str,
        stream: OutboundStream,
        output: PacketOutput,
    ) -> None:
        self.kind = kind
        self.mid = mid
        self.stream = stream
        self._output = output
        self.source: Publication | None = None
        #: The subscriber has applied an answer that contains this slot.
        self.negotiated = False
        self.packets = 0
        self.octets = 0
        self._await_keyframe = kind == "video"
        self._hist_seq: list[int] = [-1] * HISTORY if kind == "video" else []
        self._hist_data: list[bytes] = [b""] * HISTORY if kind == "video" else []
        self._on_first_packet: Callable[[], None] | None = None

    def on_first_packet(self, callback: Callable[[], None] | None) -> None:
        self._on_first_packet = callback

    def attach(self, publication: Publication | None) -> None:
        """Carry `publication` from its next keyframe on (or nothing)."""
        if publication is self.source:
            return
        if self.source is not None:
            self.source.slots.remove(self)
            metrics.SUBSCRIPTIONS.labels(self.source.kind).dec()
        self.source = publication
        self.stream.rebase()
        self._await_keyframe = self.kind == "video"
        if publication is not None:
            publication.slots.append(self)
            metrics.SUBSCRIPTIONS.labels(publication.kind).inc()
            publication.want_keyframe()

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
        if self._await_keyframe:
            if not keyframe:
                source = self.source
                if source is not None:
                    source.want_keyframe()
                return None
            self._await_keyframe = False
            metrics.KEYFRAMES_FORWARDED.inc()
        seq, data = self.stream.build(
            seq,
            packet.timestamp,
            packet.marker,
            packet.payload,
            ext_dynamic,
            now,
        )
        if self._hist_seq:
            i = seq % HISTORY
            self._hist_seq[i] = seq
            self._hist_data[i] = data
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
        if self._await_keyframe and self.source is not None:
            self.source.want_keyframe(urgent=True)

    def _lost_connection(self) -> None:
        # Not connected yet (or gone): whatever the subscriber missed, it needs a fresh
        # keyframe to start decoding.
        self._await_keyframe = self.kind != "audio"

    def _sent(self, payload_len: int, ntp: int) -> None:
        self.packets += 1
        self.octets += payload_len
        self._output.account(self.packets, self.octets, ntp, self.stream.last_timestamp)
        if self._on_first_packet is not None:
            callback, self._on_first_packet = self._on_first_packet, None
            callback()

    async def retransmit(self, lost: list[int]) -> None:
        """Answer a subscriber's NACK from this slot's history."""
        if not self._hist_seq:
            return
        for seq in lost:
            i = seq % HISTORY
            if self._hist_seq[i] == seq:
                metrics.NACKS.labels("answered").inc()
                try:
                    await self._output.send(self._hist_data[i])
                except ConnectionError:
                    return
            else:
                metrics.NACKS.labels("missed").inc()

    def keyframe_requested(self) -> None:
        metrics.KEYFRAME_REQUESTS.labels("in").inc()
        if self.source is not None:
            self.source.want_keyframe()

    def close(self) -> None:
        self.attach(None)


class Publication:
    """One track a participant sends; fans its packets out to the slots attached to it.

    `kind` is audio, video or screen; a screen share is video on the wire (`media_kind`)
    and rides video slots. An inactive publication (a screen nobody is sharing, a
    microphone a facilitator locked) is offered to no subscriber, so it costs nothing.
    """

    def __init__(
        self,
        participant_id: str,
        kind: str,
        request_keyframe: Callable[[int], Awaitable[None]],
        on_audio_level: AudioLevelSink | None = None,
        active: bool = True,
    ) -> None:
        self.participant_id = participant_id
        self.kind = kind
        self.media_kind = "audio" if kind == "audio" else "video"
        self.active = active
        self.slots: list[SendSlot] = []
        self.media_ssrc: int | None = None
        self.packets = 0
        self._request_keyframe = request_keyframe
        self._on_audio_level = on_audio_level
        self._last_keyframe_request = 0.0
        self._keyframe_wanted = False
        self._keyframe_urgent = False
        self._last_loud = -SILENCE_HANGOVER_S
        self._last_keyframe_at = -1.0
        self._silence_dropped = 0
        self._keyframe_wake = asyncio.Event()
        self._keyframe_task: asyncio.Task[None] | None = None
        self._packets_metric = metrics.RTP_PACKETS.labels(kind, "in")
        self._bytes_metric = metrics.RTP_BYTES.labels(kind, "in")
        self._out_packets_metric = metrics.RTP_PACKETS.labels(kind, "out")
        self._out_bytes_metric = metrics.RTP_BYTES.labels(kind, "out")
        if active:
            metrics.PUBLICATIONS.labels(kind).inc()
        self._closed = False

    def set_active(self, active: bool) -> bool:
        """Offer this publication to subscribers (or stop); False if nothing changed. The
        caller re-balances the room; slots still attached here are detached now."""
        if active == self.active or self._closed:
            return False
        self.active = active
        metrics.PUBLICATIONS.labels(self.kind).inc(1 if active else -1)
        if not active:
            for slot in tuple(self.slots):
                slot.attach(None)
        return True

    def want_keyframe(self, urgent: bool = False) -> None:
        """Ask the publisher for a keyframe soon: at most once per interval, or sooner when
        `urgent` (a subscriber just connected and has nothing to show)."""
        if self.media_kind != "video" or self._closed:
            return
        self._keyframe_wanted = True
        if urgent:
            self._keyframe_urgent = True
            self._keyframe_wake.set()
        if self._keyframe_task is None or self._keyframe_task.done():
            self._keyframe_task = asyncio.get_running_loop().create_task(
                self._send_keyframe_request()
            )

    async def _send_keyframe_request(self) -> None:
        while self._keyframe_wanted and not self._closed:
            # The long interval only holds while a request is outstanding (no keyframe since
            # it): a slot that arrives just after a keyframe went by need not wait it out.
            served = self._last_keyframe_at >= self._last_keyframe_request
            interval = (
                URGENT_KEYFRAME_INTERVAL_S
                if self._keyframe_urgent or served
                else KEYFRAME_REQUEST_INTERVAL_S
            )
            wait = self._last_keyframe_request + interval - time.monotonic()
            if wait > 0:
                self._keyframe_wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._keyframe_wake.wait(), wait)
                continue
            self._keyframe_wanted = self._keyframe_urgent = False
            if self.media_ssrc is None:
                # Nothing received yet: the publisher's first frame is a keyframe anyway.
                return
            self._last_keyframe_request = time.monotonic()
            metrics.KEYFRAME_REQUESTS.labels("out").inc()
            try:
                await self._request_keyframe(self.media_ssrc)
            except ConnectionError:
                return

    async def on_packet(self, packet: RtpPacket) -> None:
        """The tap on this publication's receiver: runs once per inbound packet."""
        self.media_ssrc = packet.ssrc
        self.packets += 1
        payload_len = len(packet.payload)
        self._packets_metric.inc()
        self._bytes_metric.inc(payload_len)
        kind = self.kind
        now = time.monotonic()
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
        keyframe = kind != "audio" and vp8_keyframe_start(packet.payload)
        if keyframe:
            # Every slot waiting for a keyframe takes this one: no further request needed.
            self._last_keyframe_at = now
            self._keyframe_wanted = False
        # Every subscriber of a kind negotiated the same extension ids (the server offers
        # them), so the per-packet extension element is built once, not once per slot.
        cached_id = -1
        ext_dynamic = b""
        sent = 0
        for slot in tuple(slots):
            if slot.source is not self:
                continue  # re-pointed while an earlier send of this packet awaited
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
                pending = slot.forward(packet, seq, keyframe, ext_dynamic, now, ntp)
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
        if sent:
            self._out_packets_metric.inc(sent)
            self._out_bytes_metric.inc(payload_len * sent)
        if sampled:
            metrics.FORWARD_SECONDS.observe(time.perf_counter() - started)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for slot in tuple(self.slots):
            slot.attach(None)
        if self._keyframe_task is not None:
            self._keyframe_task.cancel()
            try:
                await self._keyframe_task
            except asyncio.CancelledError:
                pass
        if self.active:
            metrics.PUBLICATIONS.labels(self.kind).dec()
