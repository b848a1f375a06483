"""One participant's peer connection, and its negotiation.

The server is always the SDP offerer, so there is no glare: one task per peer owns the
negotiation, makes one offer at a time and waits for its answer. Receive transceivers carry
the participant's own microphone, camera and screen (its publications); every other
transceiver is a sendonly slot the room can point at any publication in the session.

The slots are a fixed pool (`SlotPool`), all in the first offer: as many video slots as a
subscriber can be shown, and a few audio slots for the loudest speakers. Nothing that
happens in the room afterwards (someone joins, a camera goes on, a breakout switch) adds an
m-section, so nobody but a newcomer is ever renegotiated: a join into a room of 40 costs
one offer, not 40, and the SDP stays the same size at any room size.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.sdp import SessionDescription

from classroom.observability import metrics
from classroom.rooms import aiortc_hooks, fanout
from classroom.rooms.forwarding import AudioLevelSink, Publication, SendSlot
from classroom.rooms.media_stats import PublisherStats, SubscriberReports
from classroom.rooms.rtp import ExtensionLayout
from classroom.rooms.sdp import (
    advertise_public_ip,
    answered_simulcast,
    enable_opus_fec,
    offer_simulcast,
    strip_simulcast,
)

log = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 20.0
CLOCK_RATES = {"audio": 48000, "video": 90000, "screen": 90000}
#: What a publishing participant sends, one recvonly transceiver each (`offer.publish`):
#: microphone, camera, and a screen share (a video track attached only while sharing).
PUBLISHED_KINDS = ("audio", "video", "screen")
#: Why a peer's media is not up (`Peer.missing_reason`): a small fixed set, a metric label.
MISSING_REASONS = metrics.MEDIA_MISSING_REASONS


#: The one codec per kind the server forwards: every publisher sends it and every
#: subscriber receives it, so packets pass through unchanged (no transcoding, and VP8
#: keyframe detection holds). Browsers all support both.
FORWARDED_CODECS = {"audio": ("audio/opus",), "video": ("video/VP8", "video/rtx")}


def prefer_forwardable_codecs(transceiver: RTCRtpTransceiver) -> None:
    wanted = FORWARDED_CODECS[transceiver.kind]
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences([c for c in capabilities if c.mimeType in wanted])


class NegotiationError(Exception):
    """The client's answer cannot be used; `code` is a protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SlotPool:
    """How many send slots of each kind every subscriber has (CLASSROOM_VIDEO_SLOTS,
    CLASSROOM_AUDIO_SLOTS): the videos it can show, and the loudest speakers it hears."""

    video: int = 16
    audio: int = 3


@dataclass(frozen=True)
class IceSettings:
    #: STUN/TURN servers the server itself uses to gather candidates.
    servers: list[dict[str, Any]] = field(default_factory=list)
    public_ip: str | None = None


OfferSink = Callable[[str, dict[str, str]], Awaitable[None]]


class Peer:
    def __init__(
        self,
        participant_id: str,
        publishes: bool,
        ice: IceSettings,
        send_offer: OfferSink,
        on_slots_ready: Callable[[], None],
        on_failed: Callable[[str], None],
        on_audio_level: AudioLevelSink | None = None,
        pool: SlotPool | None = None,
        sending: dict[str, bool] | None = None,
        on_connected: Callable[[], None] | None = None,
        on_layers_changed: Callable[[Publication], None] | None = None,
        on_estimate: Callable[[float], None] | None = None,
    ) -> None:
        self.participant_id = participant_id
        self.publishes = publishes
        self.pool = pool or SlotPool()
        #: Which of its tracks the participant sends from the start (`join`'s audio and
        #: video): a track it does not send is not offered to anyone until it says it does.
        self._sending = dict(sending or {})
        self._ice = ice
        self._send_offer = send_offer
        self._on_slots_ready = on_slots_ready
        self._on_failed = on_failed
        self._on_audio_level = on_audio_level
        self._on_connected = on_connected
        self._on_layers_changed = on_layers_changed
        self._on_estimate = on_estimate
        #: The subscriber's newest bandwidth estimate (REMB), bits per second.
        self.estimate_bps: float | None = None
        servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice.servers
        ]
        # One transport for everything: slots added later must ride the same ICE/DTLS.
        # The list even when empty: given None, aiortc asks a public STUN server on every
        # join, and gathering waits up to 5 s for one that does not answer (a firewalled
        # node), before the newcomer's offer can go out.
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.publications: dict[str, Publication] = {}
        self.publish_mids: dict[str, str] = {}
        self.slots: list[SendSlot] = []
        self._pending: list[tuple[str, RTCRtpTransceiver]] = []
        self._renegotiate = asyncio.Event()
        self._answer: asyncio.Future[str] | None = None
        self._offer_media_count = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.connection_state = "new"
        #: Which of the participant's peer connections this is: 0 for the join's, one more
        #: per restart. Offers carry it and answers name it, so a late answer to a replaced
        #: peer's offer is not applied to its successor.
        self.restart = 0
        #: The peer's media got through at least once (DTLS connected).
        self.ever_connected = False
        self._receivers: dict[str, Any] = {}
        self._publisher_stats = PublisherStats()
        #: The camera's receive transceiver (None for an observer): its m-section is
        #: offered in simulcast layers.
        self._camera: RTCRtpTransceiver | None = None
        #: The camera layers the client's answer said it sends (`a=simulcast:send`, low to
        #: high); empty: one stream.
        self.simulcast_layers: list[str] = []
        #: Packets the native fan-out dropped on this peer's full socket, as last counted.
        self._fanout_dropped = 0

        @self.pc.on("connectionstatechange")
        def _on_state() -> None:
            self.connection_state = self.pc.connectionState
            if self.pc.connectionState in ("failed", "closed"):
                # Nothing reaches this subscriber any more: its slots stop waiting for
                # keyframes, so no publisher is asked for one on its behalf.
                for slot in self.slots:
                    slot.transport_closed()
            if self.pc.connectionState == "failed":
                self._on_failed("ice_failed")
            elif self.pc.connectionState == "closed" and not self._closed:
                # aiortc closes the connection by itself once every DTLS transport has
                # closed (the other side said goodbye, or its ICE consent expired):
                # without this, the participant would stay in the room with no media.
                self._on_failed("media_closed")
            elif self.pc.connectionState == "connected":
                # Keyframes sent before DTLS was up were lost: ask again now, so the first
                # picture does not wait for the next periodic request.
                for slot in self.slots:
                    slot.connected()
                self.ever_connected = True
                if self._on_connected is not None:
                    self._on_connected()

    def missing_reason(self) -> str:
        """Why this peer's media is not up (one of MISSING_REASONS), for the facilitator and
        the metrics: the client never answered, ICE found no path (UDP blocked: a firewall or
        VPN), the transport closed, or it simply did not get as far as DTLS in time."""
        if self.connection_state == "closed":
            return "closed"
        if self.pc.iceConnectionState == "failed":
            return "ice_failed"
        if self.pc.remoteDescription is None:
            return "no_answer"
        return "dtls_timeout"

    def start(self) -> None:
        aiortc_hooks.install_mid_routing()
        with aiortc_hooks.receivers_without_estimator():
            self._add_transceivers()
        self._renegotiate.set()
        self._task = asyncio.get_running_loop().create_task(self._negotiate_loop())

    def _add_transceivers(self) -> None:
        """The publications' receive transceivers and the whole slot pool, for the first offer."""
        if self.publishes:
            for kind in PUBLISHED_KINDS:
                media_kind = "audio" if kind == "audio" else "video"
                transceiver = self.pc.addTransceiver(media_kind, direction="recvonly")
                prefer_forwardable_codecs(transceiver)
                receiver = transceiver.receiver

                async def request(ssrc: int, receiver: Any = receiver) -> None:
                    await aiortc_hooks.request_keyframe(receiver, ssrc)

                publication = Publication(
                    self.participant_id,
                    kind,
                    request,
                    self._on_audio_level if kind == "audio" else None,
                    # A screen is offered to subscribers only while it is being shared.
                    active=kind != "screen",
                    on=self._sending.get(kind, True),
                )
                publication.on_layers_changed = self._on_layers_changed
                aiortc_hooks.tap_receiver(
                    receiver, publication.on_packet, metrics.NACK_REQUESTS.labels("out").inc
                )
                self.publications[kind] = publication
                self._receivers[kind] = receiver
                if kind == "video":
                    self._camera = transceiver
                self._pending.append(("publish-" + kind, transceiver))
        # The whole pool now, in the first offer: it is never renegotiated afterwards.
        for kind, count in (("audio", self.pool.audio), ("video", self.pool.video)):
            for _ in range(count):
                track = aiortc_hooks.ParkedTrack(kind)
                transceiver = self.pc.addTransceiver(track, direction="sendonly")
                prefer_forwardable_codecs(transceiver)
                self._pending.append(("slot-" + kind, transceiver))

    async def _negotiate_loop(self) -> None:
        try:
            while not self._closed:
                await self._renegotiate.wait()
                self._renegotiate.clear()
                await self._negotiate_once()
        except asyncio.CancelledError:
            raise
        except NegotiationError as exc:
            log.info("negotiation with %s failed: %s", self.participant_id, exc)
            self._on_failed(exc.code)
        except aiortc_hooks.MediaPortsExhausted as exc:
            # The node is full, not the client broken: say so to the operator.
            log.error("no media port for %s: %s", self.participant_id, exc.strerror)
            metrics.MEDIA_PORTS_EXHAUSTED.inc()
            self._on_failed("media_ports_exhausted")
        except Exception:
            log.exception("negotiation with %s failed", self.participant_id)
            self._on_failed("negotiation_failed")

    async def _negotiate_once(self) -> None:
        if not self.pc.getTransceivers():
            return
        if not self._pending and self.pc.signalingState == "stable" and self.pc.remoteDescription:
            return
        offer = await self.pc.createOffer()
        # createOffer and setLocalDescription each build or parse the SDP of the whole pool
        # (22 m-sections) without awaiting anything: a turn of the loop between them halves
        # the longest step a join costs everyone else.
        await asyncio.sleep(0)
        await self.pc.setLocalDescription(offer)
        sdp = enable_opus_fec(self.pc.localDescription.sdp)
        if self._camera is not None and self._camera.mid is not None:
            sdp = offer_simulcast(sdp, self._camera.mid)
        if self._ice.public_ip:
            sdp = advertise_public_ip(sdp, self._ice.public_ip)
        for tag, transceiver in self._pending:
            if tag.startswith("publish-"):
                self.publish_mids[tag.removeprefix("publish-")] = str(transceiver.mid)
        self._offer_media_count = len(self.pc.getTransceivers())
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        await self._send_offer(sdp, dict(self.publish_mids))
        try:
            answer = await asyncio.wait_for(asyncio.shield(self._answer), ANSWER_TIMEOUT_S)
        except TimeoutError as exc:
            raise NegotiationError("answer_timeout", "no answer to the offer in time") from exc
        finally:
            self._answer = None
        rid_ids: dict[str, int] = {}
        if self._camera is not None and self._camera.mid is not None:
            layers, rid_ids = answered_simulcast(answer, self._camera.mid)
            self.simulcast_layers = layers if rid_ids else []
            answer = strip_simulcast(answer)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except Exception as exc:
            raise NegotiationError("bad_sdp", f"the answer could not be applied: {exc}") from exc
        if self._camera is not None:
            aiortc_hooks.negotiate_rid_extensions(self._camera, rid_ids)
        for tag, transceiver in self._pending:
            if tag.startswith("slot-"):
                self.slots.append(self._make_slot(tag.removeprefix("slot-"), transceiver))
        self._pending.clear()
        self._on_slots_ready()

    def _make_slot(self, kind: str, transceiver: RTCRtpTransceiver) -> SendSlot:
        mid = str(transceiver.mid)
        ext = ExtensionLayout(kind, aiortc_hooks.negotiated_extension_ids(transceiver), mid)
        payload_type = aiortc_hooks.negotiated_payload_type(transceiver)
        if payload_type is None:
            raise NegotiationError("bad_sdp", f"no codec negotiated for {kind} slot {mid}")
        ssrc = aiortc_hooks.sender_ssrc(transceiver.sender)
        stream = fanout.make_stream(ssrc, payload_type, CLOCK_RATES[kind], ext)
        holder: list[SendSlot] = []
        nacks_in = metrics.NACK_REQUESTS.labels("in")

        async def on_nack(lost: list[int]) -> None:
            nacks_in.inc()
            await holder[0].retransmit(lost)

        def on_keyframe_request() -> None:
            holder[0].keyframe_requested()

        def on_remb(bps: int) -> None:
            # Every video slot hears the same REMB (it names all their SSRCs): one change.
            if bps != self.estimate_bps:
                self.estimate_bps = bps
                if self._on_estimate is not None:
                    self._on_estimate(float(bps))

        hook = aiortc_hooks.SenderHook(
            transceiver.sender,
            mid,
            on_nack,
            on_keyframe_request,
            SubscriberReports(kind, CLOCK_RATES[kind]),
            on_remb if kind == "video" else None,
        )
        slot = SendSlot(kind, mid, stream, hook)
        slot.negotiated = True
        holder.append(slot)
        return slot

    def video_slot_mids(self) -> set[str]:
        """The mids of the receive video slots, also those of an offer not answered yet:
        a client may report its tiles (`view`) as soon as it has answered."""
        mids = {slot.mid for slot in self.slots if slot.kind == "video"}
        mids.update(
            str(t.mid) for tag, t in self._pending if tag == "slot-video" and t.mid is not None
        )
        return mids

    def collect_stats(self) -> None:
        """Publisher-side RTCP statistics (loss, jitter) into metrics; every few seconds."""
        for kind, receiver in self._receivers.items():
            streams = aiortc_hooks.receiver_stats(receiver)
            self._publisher_stats.poll(kind, CLOCK_RATES[kind], streams)
        dropped = sum(slot.dropped for slot in self.slots)
        if dropped > self._fanout_dropped:
            metrics.FANOUT_DROPPED.inc(dropped - self._fanout_dropped)
        self._fanout_dropped = dropped

    def accept_answer(self, sdp: str) -> None:
        """Hand the client's answer to the negotiation task, after checking it fits."""
        if self._answer is None or self._answer.done():
            raise NegotiationError("no_offer", "there is no offer waiting for an answer")
        try:
            parsed = SessionDescription.parse(sdp)
        except Exception as exc:
            raise NegotiationError("bad_sdp", f"the answer is not valid SDP: {exc}") from exc
        media = [m for m in parsed.media if m.kind in ("audio", "video")]
        for section in media:
            codecs = section.rtp.codecs
            if codecs and codecs[0].mimeType.lower() != FORWARDED_CODECS[section.kind][0].lower():
                raise NegotiationError(
                    "bad_sdp", f"the answer chose {codecs[0].mimeType}; only VP8 and Opus are used"
                )
        if len(media) != self._offer_media_count:
            raise NegotiationError(
                "bad_sdp",
                f"the answer has {len(media)} media sections, the offer {self._offer_media_count}",
            )
        self._answer.set_result(sdp)

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for slot in self.slots:
            slot.close()
        for publication in self.publications.values():
            await publication.close()
        await self.pc.close()
