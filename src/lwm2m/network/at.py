"""The AT interpreter of one emulated NB-IoT modem (TS 27.007 / 27.005).

Lines in, response text and URCs out, no I/O: :meth:`AtInterpreter.command_line` answers a
command line, :meth:`AtInterpreter.take_urcs` formats what the network told the modem since.
Syntax follows TS 27.007 exactly (quoted hex data as in its examples, ``+CME ERROR: <n>``) so
that a driver written for a real module (Quectel BC66/BG96, u-blox SARA-R4, Nordic nRF9160)
works against it; where modules differ it follows the specification.
"""

from __future__ import annotations

from collections.abc import Callable

from lwm2m.network.at_sms import SmsCommands
from lwm2m.network.at_syntax import (
    AtCommandError,
    CmeError,
    Command,
    Form,
    frame,
    quote,
    split_line,
)
from lwm2m.network.ue import (
    AT_RATE_UNIT,
    EdrxChanged,
    MoError,
    MtData,
    RegistrationChanged,
    RrcChanged,
    SmsToTe,
    Stat,
    Ue,
)
from lwm2m.transport.modem.nas import decode_edrx, decode_timer2, decode_timer3
from lwm2m.transport.modem.syntax import AtSyntaxError

PROMPT = "\r\n> "
"""What AT+CMGS answers before the PDU (TS 27.005 3.5.1: <CR><LF><greater_than><space>)."""
ACT_NB_S1 = 9
"""``+CEREG`` <AcT>: E-UTRAN (NB-S1 mode)."""
EDRX_ACT_NB_S1 = 5
"""``+CEDRXS`` <AcT-type>: E-UTRAN (NB-S1 mode)."""
MAX_CID = 10
DEFAULT_TAU = "00100001"  # 1 hour: what AT+CPSMS=1 requests when it names no value
DEFAULT_ACTIVE_TIME = "00000101"  # 10 seconds
DEFAULT_EDRX = "0101"  # 81.92 s
MO_ERRORS = {
    MoError.NOT_ATTACHED: CmeError.NO_NETWORK_SERVICE,
    MoError.UNKNOWN_CONTEXT: CmeError.INCORRECT_PARAMETERS,
    MoError.TOO_LARGE: CmeError.INCORRECT_PARAMETERS,
    MoError.RATE_LIMITED: CmeError.UPLINK_BUSY_FLOW_CONTROL,
}
IDENTITY = {
    "+CGMI": "lwm2m",
    "+CGMM": "Emulated NB-IoT modem",
    "+CGMR": "lwm2m-network 1",
}


def _constant(lines: list[str]) -> Callable[[], list[str]]:
    return lambda: lines


class AtInterpreter:
    """One modem: its settings, its SIM's :class:`Ue`, and the URCs it owes its TE."""

    def __init__(self, ue: Ue, smsc_address: str) -> None:
        self.ue = ue
        self.sms = SmsCommands(ue, smsc_address)
        self.echo = True
        self.cmee = 1
        self.fun = 0
        self.cereg = 0
        self.cscon = 0
        self.crtdcp = 0
        self.cedrxs = 0
        self.edrx_value = DEFAULT_EDRX
        self.cpsms = 0
        self.requested_tau = DEFAULT_TAU
        self.requested_active_time = DEFAULT_ACTIVE_TIME
        self._last_cereg: str | None = None
        self._now = 0.0
        self._table: dict[str, Callable[[Command], list[str]]] = {
            "E": self._echo,
            "I": lambda command: [IDENTITY["+CGMM"]],
            "+CMEE": self._cmee,
            "+CGSN": self._cgsn,
            "+CIMI": self._action(lambda: [self.ue.sim.imsi]),
            "+CNUM": self._action(lambda: [f'+CNUM: ,"+{self.ue.sim.msisdn}",145']),
            "+CFUN": self._cfun,
            "+CGDCONT": self._cgdcont,
            "+CGACT": self._cgact,
            "+CGATT": self._cgatt,
            "+CEREG": self._cereg,
            "+CSCON": self._cscon,
            "+CPSMS": self._cpsms,
            "+CEDRXS": self._cedrxs,
            "+CEDRXRDP": self._action(lambda: [self._cedrxrdp()]),
            "+CSODCP": self._csodcp,
            "+CRTDCP": self._crtdcp,
            "+CESQ": self._action(self._cesq),
            "+CGAPNRC": self._cgapnrc,
        }
        for name, text in IDENTITY.items():
            self._table[name] = self._action(_constant([text]))
        self._table.update(self.sms.handlers())

    # -- lines ----------------------------------------------------------------------------
    def command_line(self, line: str, now: float) -> str:
        """The modem's answer to one line (echo, information text, result code, then URCs
        the command caused)."""
        self._now = now
        echo = line + "\r" if self.echo else ""
        try:
            commands = split_line(line)
        except AtCommandError as failure:
            return echo + frame([self._error(failure)])
        if commands is None:
            return echo if not line.strip() else echo + frame(["ERROR"])
        lines: list[str] = []
        try:
            for command in commands:
                if self.sms.awaiting is not None:
                    raise AtCommandError(None)  # AT+CMGS ends its command line
                lines.extend(self._run(command))
        except AtCommandError as failure:
            self.sms.awaiting = None
            return echo + frame([*lines, self._error(failure)]) + self.take_urcs()
        if self.sms.awaiting is not None:
            return echo + frame(lines) + PROMPT
        return echo + frame([*lines, "OK"]) + self.take_urcs()

    @property
    def awaiting_pdu(self) -> bool:
        """After AT+CMGS: the next input is a PDU ended by Ctrl-Z (or ESC), not a line."""
        return self.sms.awaiting is not None

    def pdu_entry(self, text: str, now: float, *, cancel: bool = False) -> str:
        """The PDU typed after the ``> `` prompt (echoed like a command line)."""
        self._now = now
        echo = text if self.echo else ""
        if cancel:
            self.sms.awaiting = None
            return echo + frame(["OK"]) + self.take_urcs()
        try:
            lines = self.sms.send(text, now)
        except AtCommandError as failure:
            return echo + frame([self._error(failure)]) + self.take_urcs()
        return echo + frame([*lines, "OK"]) + self.take_urcs()

    def _run(self, command: Command) -> list[str]:
        handler = self._table.get(command.name)
        if handler is None:
            raise AtCommandError(None)
        return handler(command)

    def _error(self, failure: AtCommandError) -> str:
        if failure.cms is not None and self.cmee:
            return f"+CMS ERROR: {failure.cms}"
        if failure.error is None or self.cmee == 0:
            return "ERROR"
        if self.cmee == 2:
            return f"+CME ERROR: {failure.error.text}"
        return f"+CME ERROR: {failure.error.value}"

    def take_urcs(self) -> str:
        """URCs for what happened to the UE since the last call, in order."""
        lines: list[str] = []
        for indication in self.ue.indications:
            if isinstance(indication, RegistrationChanged):
                urc = self._cereg_urc()
                if urc is not None:
                    lines.append(urc)
            elif isinstance(indication, RrcChanged):
                if self.cscon:
                    lines.append(f"+CSCON: {int(indication.connected)}")
            elif isinstance(indication, MtData):
                if self.crtdcp:
                    data = indication.data
                    lines.append(f'+CRTDCP: {indication.cid},{len(data)},"{data.hex().upper()}"')
            elif isinstance(indication, EdrxChanged) and self.cedrxs == 2:
                lines.append(self._cedrxp())
            elif isinstance(indication, SmsToTe):
                lines.append(f"+CMT: ,{indication.length}\r\n{indication.pdu.hex().upper()}")
        self.ue.indications.clear()
        return frame(lines)

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def _action(answer: Callable[[], list[str]]) -> Callable[[Command], list[str]]:
        def run(command: Command) -> list[str]:
            if command.form is Form.TEST:
                return []
            if command.form is not Form.ACTION:
                raise AtCommandError(CmeError.OPERATION_NOT_SUPPORTED)
            return answer()

        return run

    def _mode(self, command: Command, high: int) -> int | None:
        """Shared shape of ``+CMD=<n>`` / ``+CMD?`` / ``+CMD=?``: the new n or None."""
        if command.form is Form.SET:
            return command.integer(0, 0, high, default=0)
        if command.form is Form.ACTION:
            raise AtCommandError(CmeError.INCORRECT_PARAMETERS)
        return None

    # -- commands -------------------------------------------------------------------------
    def _echo(self, command: Command) -> list[str]:
        self.echo = command.integer(0, 0, 1, default=0) == 1
        return []

    def _cmee(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return ["+CMEE: (0-2)"]
        if command.form is Form.READ:
            return [f"+CMEE: {self.cmee}"]
        self.cmee = command.integer(0, 0, 2, default=0)
        return []

    def _cgsn(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return ["+CGSN: (0,1)"]
        if command.form is Form.READ:
            raise AtCommandError(CmeError.OPERATION_NOT_SUPPORTED)
        if command.integer(0, 0, 1, default=0) == 1:
            return [f"+CGSN: {quote(self.ue.sim.imei)}"]
        return [self.ue.sim.imei]

    def _cfun(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return ["+CFUN: (0,1,4),(0,1)"]
        if command.form is Form.READ:
            return [f"+CFUN: {self.fun}"]
        if command.form is Form.ACTION:
            raise AtCommandError(CmeError.INCORRECT_PARAMETERS)
        fun = command.integer(0, 0, 4, default=1)
        command.integer(1, 0, 1, default=0)
        if fun not in (0, 1, 4):
            raise AtCommandError(CmeError.OPERATION_NOT_SUPPORTED)
        if fun == 1 and self.fun != 1:
            self.ue.power_on(self._now)
        elif fun != 1 and self.fun == 1:
            self.ue.detach(self._now)
        self.fun = fun
        return []

    def _cgdcont(self, command: Command) -> list[str]:
        contexts = self.ue.contexts
        if command.form is Form.TEST:
            return [f'+CGDCONT: (0-{MAX_CID}),"Non-IP",,,(0),(0)']
        if command.form is Form.READ:
            return [
                f'+CGDCONT: {cid},"{kind}","{apn}","",0,0'
                for cid, (kind, apn) in sorted(contexts.items())
            ]
        if command.form is Form.ACTION:
            raise AtCommandError(CmeError.INCORRECT_PARAMETERS)
        cid = command.integer(0, 0, MAX_CID)
        if self.ue.attached and cid == self.ue.active_cid:
            raise AtCommandError(CmeError.OPERATION_NOT_ALLOWED)
        if not command.given(1):
            contexts.pop(cid, None)
            return []
        kind = command.string(1)
        if kind.upper() != "NON-IP":
            raise AtCommandError(CmeError.OPERATION_NOT_SUPPORTED)  # the network offers NIDD only
        contexts[cid] = ("Non-IP", command.string(2, default=""))
        return []

    def _cgact(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return ["+CGACT: (0,1)"]
        if command.form is not Form.READ:
            raise AtCommandError(CmeError.OPERATION_NOT_SUPPORTED)
        active = self.ue.active_cid if self.ue.attached else None
        return [f"+CGACT: {cid},{int(cid == active)}" for cid in sorted(self.ue.contexts)]

    def _cgatt(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return ["+CGATT: (0,1)"]
        if command.form is Form.READ:
            return [f"+CGATT: {int(self.ue.attached)}"]
        if command.integer(0, 0, 1) == 1:
            if self.fun != 1:
                raise AtCommandError(CmeError.OPERATION_NOT_ALLOWED)
            self.ue.power_on(self._now)
        elif self.ue.stat is not Stat.NOT_REGISTERED:
            self.ue.detach(self._now)
        return []

    def _cereg_tail(self) -> str:
        ue = self.ue
        text = str(int(ue.stat))
        if self.cereg >= 2 and ue.attached:
            tac, cell = ue.config.tac, ue.config.cell_id
            text += f',"{tac:04X}","{cell:08X}",{ACT_NB_S1}'
            if self.cereg >= 4:
                granted = ue.granted
                text += f',,,"{granted.active_time}","{granted.periodic_tau}"'
        return text

    def _cereg_urc(self) -> str | None:
        if not self.cereg:
            return None
        urc = f"+CEREG: {self._cereg_tail()}"
        if urc == self._last_cereg:
            return None
        self._last_cereg = urc
        return urc

    def _cereg(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return ["+CEREG: (0-5)"]
        if command.form is Form.READ:
            return [f"+CEREG: {self.cereg},{self._cereg_tail()}"]
        mode = self._mode(command, 5)
        assert mode is not None
        self.cereg = mode
        self._last_cereg = f"+CEREG: {self._cereg_tail()}"
        return []

    def _cscon(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return ["+CSCON: (0,1)"]
        if command.form is Form.READ:
            return [f"+CSCON: {self.cscon},{int(self.ue.connected)}"]
        mode = self._mode(command, 1)
        assert mode is not None
        self.cscon = mode
        return []

    def _cpsms(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            span = '("00000000"-"11111111")'
            return [f"+CPSMS: (0-2),,,{span},{span}"]
        if command.form is Form.READ:
            return [
                f"+CPSMS: {self.cpsms},,,"
                f"{quote(self.requested_tau)},{quote(self.requested_active_time)}"
            ]
        mode = command.integer(0, 0, 2, default=0)
        tau = command.string(3, default=self.requested_tau)
        active = command.string(4, default=self.requested_active_time)
        try:
            tau_seconds, active_seconds = decode_timer3(tau), decode_timer2(active)
        except AtSyntaxError:
            raise AtCommandError(CmeError.INCORRECT_PARAMETERS) from None
        if mode == 2:
            tau, active = DEFAULT_TAU, DEFAULT_ACTIVE_TIME
        self.cpsms = 1 if mode == 1 else 0
        self.requested_tau, self.requested_active_time = tau, active
        self._request_power_saving((tau_seconds, active_seconds) if mode == 1 else None)
        return []

    def _request_power_saving(self, psm: tuple[int | None, int | None] | None) -> None:
        edrx = decode_edrx(self.edrx_value) if self.cedrxs in (1, 2) else None
        self.ue.request_power_saving(psm, edrx, self._now)

    def _cedrxs(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return [f'+CEDRXS: (0-3),({EDRX_ACT_NB_S1}),("0000"-"1111")']
        if command.form is Form.READ:
            if self.cedrxs in (1, 2):
                return [f"+CEDRXS: {EDRX_ACT_NB_S1},{quote(self.edrx_value)}"]
            return []
        mode = command.integer(0, 0, 3, default=0)
        if command.given(1) and command.integer(1, 0, 5) != EDRX_ACT_NB_S1:
            raise AtCommandError(CmeError.OPERATION_NOT_SUPPORTED)  # an NB-IoT network only
        value = command.string(2, default=self.edrx_value)
        try:
            decode_edrx(value)
        except AtSyntaxError:
            raise AtCommandError(CmeError.INCORRECT_PARAMETERS) from None
        self.cedrxs = mode
        self.edrx_value = DEFAULT_EDRX if mode == 3 else value
        psm = self.ue.psm_request
        self._request_power_saving(psm)
        return []

    def _cedrxp(self) -> str:
        granted = self.ue.granted
        text = f"+CEDRXP: {EDRX_ACT_NB_S1},{quote(self.edrx_value)}"
        if granted.edrx_value is not None and granted.ptw_value is not None:
            text += f",{quote(granted.edrx_value)},{quote(granted.ptw_value)}"
        return text

    def _cedrxrdp(self) -> str:
        granted = self.ue.granted
        if granted.edrx_value is None or granted.ptw_value is None or not self.ue.attached:
            return "+CEDRXRDP: 0"
        return (
            f"+CEDRXRDP: {EDRX_ACT_NB_S1},{quote(self.edrx_value)},"
            f"{quote(granted.edrx_value)},{quote(granted.ptw_value)}"
        )

    def _csodcp(self, command: Command) -> list[str]:
        limit = self.ue.config.max_packet_size
        if command.form is Form.TEST:
            return [f"+CSODCP: (0-{MAX_CID}),({limit}),(0-2),(0,1)"]
        if command.form is not Form.SET:
            raise AtCommandError(CmeError.OPERATION_NOT_SUPPORTED)
        cid = command.integer(0, 0, MAX_CID)
        length = command.integer(1, 0, 65535)
        try:
            data = bytes.fromhex(command.string(2))
        except ValueError:
            raise AtCommandError(CmeError.INCORRECT_PARAMETERS) from None
        if len(data) != length:
            raise AtCommandError(CmeError.INCORRECT_PARAMETERS)
        rai = command.integer(3, 0, 2, default=0)
        exception = command.integer(4, 0, 1, default=0) == 1
        error = self.ue.send_mo(cid, data, rai=rai, exception=exception, now=self._now)
        if error is not None:
            raise AtCommandError(MO_ERRORS[error])
        return []

    def _crtdcp(self, command: Command) -> list[str]:
        if command.form is Form.TEST:
            return [f"+CRTDCP: (0,1),(0-{MAX_CID}),({self.ue.config.max_packet_size})"]
        if command.form is Form.READ:
            return [f"+CRTDCP: {self.crtdcp}"]
        mode = self._mode(command, 1)
        assert mode is not None
        self.crtdcp = mode
        return []

    def _cesq(self) -> list[str]:
        if self.fun != 1:
            return ["+CESQ: 99,99,255,255,255,255"]
        return [f"+CESQ: 99,99,255,255,{self.ue.config.rsrq},{self.ue.config.rsrp}"]

    def _cgapnrc(self, command: Command) -> list[str]:
        active = self.ue.active_cid if self.ue.attached else None
        if command.form is Form.TEST:
            return [f"+CGAPNRC: ({active})" if active is not None else "+CGAPNRC: ()"]
        if command.form is Form.READ:
            raise AtCommandError(CmeError.OPERATION_NOT_SUPPORTED)
        if command.given(0) and command.integer(0, 0, MAX_CID) != active:
            raise AtCommandError(CmeError.INCORRECT_PARAMETERS)
        if active is None:
            return []
        rate = self.ue.config.rate
        text = f"+CGAPNRC: {active},{int(rate.exception_reports)},{AT_RATE_UNIT[rate.apn_unit]}"
        return [text if rate.apn_max is None else f"{text},{rate.apn_max}"]
