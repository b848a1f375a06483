"""The media plane: rooms, peer connections and RTP forwarding on this node.

It imports only domain, observability and tasks, and it is the only layer that imports
aiortc, aioice and av (docs/architecture.md, "Layers"); it forwards RTP packets and never
decodes or encodes media (docs/architecture.md, "The media plane").
"""
