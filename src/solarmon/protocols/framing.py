"""Reassembly of replies split across BLE notifications (20 bytes each at ATT MTU 23)."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import BadLength, BadStartOfFrame


class FrameAssembler:
    """Joins notifications into whole frames using the protocol's length rule.

    ``expected_length(head)`` returns the total frame length from its first ``head_size``
    bytes, None while more bytes are needed, or raises ``BadStartOfFrame``.
    """

    def __init__(self, expected_length: Callable[[bytes], int | None], head_size: int) -> None:
        self._expected_length = expected_length
        self._head_size = head_size
        self._buf = bytearray()

    def reset(self) -> None:
        """Drop a partial frame (before a new request)."""
        self._buf.clear()

    def feed(self, chunk: bytes) -> bytes | None:
        """Add a notification; return a complete frame, or None while bytes are missing.

        Raises ``BadStartOfFrame`` on bytes that cannot begin a frame and ``BadLength`` when a
        notification runs past the frame's end; the buffer is dropped in both cases.
        """
        self._buf += chunk
        try:
            need = self._expected_length(bytes(self._buf[: self._head_size]))
        except BadStartOfFrame:
            self._buf.clear()
            raise
        if need is None or len(self._buf) < need:
            return None
        frame, extra = bytes(self._buf[:need]), len(self._buf) - need
        self._buf.clear()
        if extra:
            raise BadLength(f"{extra} byte(s) after a {need}-byte frame")
        return frame
