"""Exception hierarchy: one root, specific subclasses that carry what went wrong."""

from __future__ import annotations


class SolarmonError(Exception):
    """Root of every error solarmon raises on purpose."""


# --- device protocols -------------------------------------------------------


class ProtocolError(SolarmonError):
    """A frame from a device is malformed; no value from it may be used."""


class BadStartOfFrame(ProtocolError):
    """The frame does not begin with the protocol's start byte(s)."""


class BadLength(ProtocolError):
    """The frame is shorter or longer than its length byte says (truncated or padded)."""


class BadChecksum(ProtocolError):
    """CRC or checksum mismatch: the bytes were damaged on the way."""


class BadEndOfFrame(ProtocolError):
    """The frame does not end with the protocol's end byte."""


class UnexpectedReply(ProtocolError):
    """A well-formed frame that answers something else (register, function, size)."""


class DeviceRefused(ProtocolError):
    """The device answered with an error status (Modbus exception, JBD status != 0)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# --- authentication (JBD) ---------------------------------------------------


class AuthError(SolarmonError):
    """The device did not accept our authentication."""


class WrongPassword(AuthError):
    """The BMS rejected the password (or the adapter generation is not the one configured)."""


class PairingRequired(AuthError):
    """The adapter is of the passkey-pairing generation: pair it through BlueZ first."""


# --- transport ----------------------------------------------------------------


class TransportError(SolarmonError):
    """The link to a device failed (not connected, connect failed, write failed)."""


class DeviceTimeout(TransportError):
    """No complete reply arrived within the request timeout."""


class NoAuthReply(DeviceTimeout):
    """Silence to a password frame: the wrong adapter generation, or a hung link.

    Silence cannot tell the two apart, so it is retried with backoff like any timeout
    (and counts towards an adapter power-cycle); explicit rejections are ``AuthError``.
    """


# --- configuration -------------------------------------------------------------


class ConfigError(SolarmonError):
    """The configuration file is unreadable or invalid; ``problems`` lists every mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))
