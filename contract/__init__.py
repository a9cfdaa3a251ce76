"""What gateware and host agree on: layouts, engine parameters, the model image, the wire.

The lowest layer of tinyeie: it imports nothing of the project (docs/architecture.md).
"""
