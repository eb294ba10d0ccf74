"""The SMS commands of the emulated modem (TS 27.005), PDU mode only.

- ``AT+CMGS=<length>`` answers the prompt ``\\r\\n> ``; the TE then sends the PDU in hex
  (the SMSC address, ``00`` for the SIM's, and ``<length>`` octets of SMS-SUBMIT) ended by
  Ctrl-Z (0x1A), or ESC (0x1B) to cancel; the modem answers ``+CMGS: <mr>`` and ``OK``.
- MT SMS reach the TE as ``+CMT: ,<length>`` followed by the PDU on its own line, once the TE
  routes them there (``AT+CNMI=<mode 1|2>,2``); until then the network keeps them.
- No SMS storage (``+CMGL``, ``+CMGR``, ``+CMGW``, ``+CMSS``, ``+CMGD``, ``+CPMS``), no text
  mode, no status reports (``+CDS``), no ``+CNMA`` (``AT+CSMS=0`` only): ``+CMS ERROR: 303``.
"""

from __future__ import annotations

from collections.abc import Callable

from lwm2m.network.at_syntax import AtCommandError, Command, Form, quote
from lwm2m.network.ue import MoError, Ue
from lwm2m.transport.modem.errors import CmsErrorCode
from lwm2m.transport.sms.errors import SmsDecodeError
from lwm2m.transport.sms.tpdu import decode_submit_pdu

MAX_TPDU = 164
"""Octets of the longest SMS-SUBMIT (TS 27.005 +CMGS <length>)."""
STORAGE_COMMANDS = ("+CMGL", "+CMGR", "+CMGW", "+CMSS", "+CMGD", "+CPMS", "+CNMA")
CNMI_TEST = "+CNMI: (0-2),(0,2),(0),(0),(0,1)"


def _cms(code: CmsErrorCode) -> AtCommandError:
    return AtCommandError(None, cms=code)


class SmsCommands:
    """The TS 27.005 state of one modem: message routing, TP-MR, a pending ``AT+CMGS``."""

    def __init__(self, ue: Ue, smsc_address: str) -> None:
        self.ue = ue
        self.smsc_address = smsc_address
        self.cnmi = (0, 0, 0, 0, 0)
        self.reference = 0
        self.awaiting: int | None = None
        """The TPDU length of the AT+CMGS whose PDU the modem is waiting for."""

    def handlers(self) -> dict[str, Callable[[Command], list[str]]]:
        table: dict[str, Callable[[Command], list[str]]] = {
            "+CSMS": self._csms,
            "+CMGF": self._cmgf,
            "+CNMI": self._cnmi,
            "+CSCA": self._csca,
            "+CMGS": self._cmgs,
        }
        for name in STORAGE_COMMANDS:
            table[name] = self._unsupported
        return table

    @property
    def routes_to_te(self) -> bool:
        mode, mt = self.cnmi[:2]
        return mode in (1, 2) and mt == 2

    # -- commands ---------------------------------------------------------------------------
    def _unsupported(self, command: Command) -> list[str]:
        raise _cms(CmsErrorCode.OPERATION_NOT_SUPPORTED)

    def _csms(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return ["+CSMS: (0)"]
        if command.form is Form.READ:
            return ["+CSMS: 0,1,1,0"]
        if command.form is not Form.SET or command.integer(0, 0, 1) != 0:
            raise _cms(CmsErrorCode.OPERATION_NOT_SUPPORTED)
        return ["+CSMS: 1,1,0"]

    def _cmgf(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return ["+CMGF: (0)"]
        if command.form is Form.READ:
            return ["+CMGF: 0"]
        if command.integer(0, 0, 1, default=0) != 0:
            raise _cms(CmsErrorCode.OPERATION_NOT_SUPPORTED)  # text mode is not offered
        return []

    def _cnmi(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return [CNMI_TEST]
        if command.form is Form.READ:
            return ["+CNMI: " + ",".join(str(value) for value in self.cnmi)]
        if command.form is not Form.SET:
            raise AtCommandError(None)
        mode = command.integer(0, 0, 3, default=0)
        values = (
            mode,
            command.integer(1, 0, 3, default=0),
            command.integer(2, 0, 3, default=0),
            command.integer(3, 0, 2, default=0),
            command.integer(4, 0, 1, default=0),
        )
        if mode > 2 or values[1] not in (0, 2) or values[2] or values[3]:
            raise _cms(CmsErrorCode.OPERATION_NOT_SUPPORTED)  # no +CMTI, +CBM, +CDS
        self.cnmi = values
        self.ue.sms_to_te = self.routes_to_te
        return []

    def _csca(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return []
        if command.form is Form.READ:
            return [f"+CSCA: {quote('+' + self.smsc_address)},145"]
        if command.form is not Form.SET:
            raise AtCommandError(None)
        if command.string(0).removeprefix("+") != self.smsc_address:
            raise _cms(CmsErrorCode.SMSC_ADDRESS_UNKNOWN)  # the network has one SMSC
        command.integer(1, 0, 255, default=145)
        return []

    def _cmgs(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return []
        if command.form is not Form.SET:
            raise _cms(CmsErrorCode.OPERATION_NOT_ALLOWED)
        try:
            self.awaiting = command.integer(0, 1, MAX_TPDU)
        except AtCommandError:
            raise _cms(CmsErrorCode.INVALID_PDU_MODE_PARAMETER) from None
        return []

    # -- the PDU after the prompt -----------------------------------------------------------
    def send(self, text: str, now: float) -> list[str]:
        """The PDU typed after the prompt: ``+CMGS: <mr>``, or AtCommandError (+CMS)."""
        length, self.awaiting = self.awaiting, None
        assert length is not None, "send only after AT+CMGS"
        try:
            pdu = bytes.fromhex("".join(text.split()))
            smsc, _ = decode_submit_pdu(pdu)
        except (ValueError, SmsDecodeError):
            raise _cms(CmsErrorCode.INVALID_PDU_MODE_PARAMETER) from None
        if len(pdu) - (pdu[0] + 1) != length:
            raise _cms(CmsErrorCode.INVALID_PDU_MODE_PARAMETER)
        if smsc is not None and smsc.number != self.smsc_address:
            raise _cms(CmsErrorCode.SMSC_ADDRESS_UNKNOWN)
        self.reference = (self.reference + 1) % 256
        tpdu = bytearray(pdu[pdu[0] + 1 :])
        tpdu[1] = self.reference  # TP-MR: the ME numbers what it sends
        if self.ue.send_sms(bytes(tpdu), now) is MoError.NOT_ATTACHED:
            raise _cms(CmsErrorCode.NO_NETWORK_SERVICE)
        return [f"+CMGS: {self.reference}"]
