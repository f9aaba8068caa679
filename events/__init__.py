"""The shared language of dispatch1310.

``events.models``   frozen event models (one class per fact type)
``events.commands`` commands the call aggregate decides on
``events.codec``    JSON bytes <-> model
``events.subjects`` NATS subject and stream names
"""
