"""The AT interpreter of one emulated modem: exact TS 27.007 syntax, errors and URCs."""

from __future__ import annotations

import pytest

from lwm2m.network.core import Network, NoFreeSimError
from lwm2m.network.sims import Hss, generate_sims
from lwm2m.network.timers import GrantPolicy
from lwm2m.network.ue import NetworkConfig, RateControl

T0 = 1_000_000.0


class Modem:
    def __init__(self, config: NetworkConfig | None = None) -> None:
        self.network = Network(Hss(generate_sims(2)), config or NetworkConfig())
        self.id = self.network.connect_modem()
        self.ue = self.network.modems[self.id].ue
        self.now = T0
        self.send("ATE0")

    def send(self, line: str) -> list[str]:
        """Response and URC lines, without the CR LF framing."""
        return [
            part for part in self.network.at_line(self.id, line, self.now).split("\r\n") if part
        ]

    def wait(self, seconds: float) -> list[str]:
        self.now += seconds
        self.network.advance(self.now)
        return [part for part in self.network.take_urcs(self.id).split("\r\n") if part]

    def attach(self) -> list[str]:
        """CFUN=1 and the attach delay: the URCs after OK."""
        response = self.send("AT+CFUN=1")
        assert response[0] == "OK"
        return response[1:] + self.wait(self.network.config.attach_delay)


@pytest.fixture
def modem() -> Modem:
    return Modem()


def test_echo_and_plain_commands() -> None:
    network = Network(Hss(generate_sims(1)), NetworkConfig())
    modem_id = network.connect_modem()
    assert network.at_line(modem_id, "AT", T0) == "AT\r\r\nOK\r\n"  # echo is on at power-up
    assert network.at_line(modem_id, "ATE0", T0) == "ATE0\r\r\nOK\r\n"
    assert network.at_line(modem_id, "AT", T0) == "\r\nOK\r\n"
    with pytest.raises(NoFreeSimError):
        network.connect_modem()


def test_identity(modem: Modem) -> None:
    sim = modem.ue.sim
    assert modem.send("AT+CGSN") == [sim.imei, "OK"]
    assert modem.send("AT+CGSN=1") == [f'+CGSN: "{sim.imei}"', "OK"]
    assert modem.send("AT+CIMI") == [sim.imsi, "OK"]
    assert modem.send("AT+CNUM") == [f'+CNUM: ,"+{sim.msisdn}",145', "OK"]
    assert modem.send("AT+CGMI") == ["lwm2m", "OK"]


def test_errors_follow_cmee(modem: Modem) -> None:
    assert modem.send("AT+NOPE") == ["ERROR"]
    assert modem.send("AT+CFUN=7") == ["+CME ERROR: 50"]
    assert modem.send("AT+CMEE=2") == ["OK"]
    assert modem.send("AT+CFUN=7") == ["+CME ERROR: Incorrect parameters"]
    assert modem.send("AT+CMEE=0") == ["OK"]
    assert modem.send("AT+CFUN=7") == ["ERROR"]
    assert modem.send("AT+CMEE?") == ["+CMEE: 0", "OK"]
    assert modem.send("HELLO") == ["ERROR"]


def test_sms_storage_and_text_mode_are_not_offered(modem: Modem) -> None:
    assert modem.send("AT+CMGF=0") == ["OK"]
    assert modem.send("AT+CMGF=1") == ["+CMS ERROR: 303"]
    assert modem.send("AT+CMGL=4") == ["+CMS ERROR: 303"]
    assert modem.send("AT+CNMI=2,1") == ["+CMS ERROR: 303"]  # +CMTI needs storage


def test_cfun_and_attach_urcs(modem: Modem) -> None:
    assert modem.send("AT+CFUN?") == ["+CFUN: 0", "OK"]
    assert modem.send("AT+CFUN=?") == ["+CFUN: (0,1,4),(0,1)", "OK"]
    assert modem.send("AT+CEREG=2;+CSCON=1") == ["OK"]
    assert modem.send("AT+CFUN=1") == ["OK", "+CEREG: 2"]
    assert modem.wait(2) == ['+CEREG: 1,"1A2B","01A2D101",9', "+CSCON: 1"]
    assert modem.send("AT+CEREG?") == ['+CEREG: 2,1,"1A2B","01A2D101",9', "OK"]
    assert modem.send("AT+CGATT?") == ["+CGATT: 1", "OK"]
    assert modem.send("AT+CSCON?") == ["+CSCON: 1,1", "OK"]
    assert modem.wait(20) == ["+CSCON: 0"]  # inactivity timer
    assert modem.send("AT+CFUN=0") == ["OK", "+CEREG: 0"]


def test_cgdcont_non_ip_only(modem: Modem) -> None:
    assert modem.send('AT+CGDCONT=1,"Non-IP","nidd.example"') == ["OK"]
    assert modem.send('AT+CGDCONT=2,"IP","internet"') == ["+CME ERROR: 4"]
    assert modem.send("AT+CGDCONT?") == ['+CGDCONT: 1,"Non-IP","nidd.example","",0,0', "OK"]
    assert modem.send("AT+CGDCONT=?") == ['+CGDCONT: (0-10),"Non-IP",,,(0),(0)', "OK"]
    modem.attach()
    assert modem.send("AT+CGACT?") == ["+CGACT: 1,1", "OK"]
    assert modem.send('AT+CGDCONT=1,"Non-IP","other"') == ["+CME ERROR: 3"]


def test_cereg_mode_4_reports_granted_psm_timers() -> None:
    policy = GrantPolicy(t3324_min=20, t3412_max=3600)
    modem = Modem(NetworkConfig(policy=policy))
    assert modem.send('AT+CPSMS=1,,,"01000011","00000001"') == ["OK"]  # 30 h, 2 s
    assert modem.send("AT+CPSMS?") == ['+CPSMS: 1,,,"01000011","00000001"', "OK"]
    assert modem.send("AT+CEREG=4") == ["OK"]
    urcs = modem.attach()
    # the network grants 1 h (its maximum) and 20 s (its minimum) instead
    assert urcs[1] == '+CEREG: 1,"1A2B","01A2D101",9,,,"00001010","00100001"'
    assert modem.ue.granted.t3412 == 3600 and modem.ue.granted.t3324 == 20
    assert modem.send("AT+CPSMS=0") == [
        "OK",
        '+CEREG: 1,"1A2B","01A2D101",9,,,"11100000","00100001"',
    ]


def test_cedrxs_and_cedrxp(modem: Modem) -> None:
    assert modem.send('AT+CEDRXS=2,5,"0101"') == ["OK"]
    assert modem.send("AT+CEDRXS?") == ['+CEDRXS: 5,"0101"', "OK"]
    assert modem.send('AT+CEDRXS=1,4,"0101"') == ["+CME ERROR: 4"]  # WB-S1: not this network
    urcs = modem.attach()
    assert '+CEDRXP: 5,"0101","0101","0011"' in urcs
    assert modem.send("AT+CEDRXRDP") == ['+CEDRXRDP: 5,"0101","0101","0011"', "OK"]
    assert modem.ue.granted.edrx == 81.92


def test_csodcp_and_crtdcp(modem: Modem) -> None:
    assert modem.send("AT+CRTDCP=1") == ["OK"]
    assert modem.send('AT+CSODCP=0,2,"0102"') == ["+CME ERROR: 30"]  # not attached
    modem.attach()
    assert modem.send('AT+CSODCP=0,2,"0102",2') == ["OK"]
    assert modem.send('AT+CSODCP=0,3,"0102"') == ["+CME ERROR: 50"]  # length mismatch
    assert modem.send('AT+CSODCP=3,1,"01"') == ["+CME ERROR: 50"]  # no such context
    assert modem.send('AT+CSODCP=0,1,"zz"') == ["+CME ERROR: 50"]
    too_big = "00" * 1359
    assert modem.send(f'AT+CSODCP=0,1359,"{too_big}"') == ["+CME ERROR: 50"]
    assert modem.send("AT+CSODCP=?") == ["+CSODCP: (0-10),(1358),(0-2),(0,1)", "OK"]
    imsi = modem.ue.sim.imsi
    result = modem.network.send_mt(imsi, "t1", b"\xab\xcd", modem.now, max_latency=None)
    assert result.outcome.value == "delivered"
    assert modem.wait(0) == ['+CRTDCP: 0,2,"ABCD"']
    assert modem.send("AT+CRTDCP?") == ["+CRTDCP: 1", "OK"]


def test_rai_releases_the_connection(modem: Modem) -> None:
    modem.send("AT+CSCON=1")
    modem.attach()
    assert modem.send('AT+CSODCP=0,1,"00",1') == ["OK", "+CSCON: 0"]
    assert modem.send('AT+CSODCP=0,1,"00",0') == ["OK", "+CSCON: 1"]


def test_rate_control_and_cgapnrc() -> None:
    rate = RateControl(apn_max=2, apn_unit="hour", exception_reports=True, plmn_max=3)
    modem = Modem(NetworkConfig(rate=rate))
    modem.attach()
    assert modem.send("AT+CGAPNRC") == ["+CGAPNRC: 0,1,2,2", "OK"]
    assert modem.send("AT+CGAPNRC=?") == ["+CGAPNRC: (0)", "OK"]
    assert modem.send('AT+CSODCP=0,1,"01"') == ["OK"]
    assert modem.send('AT+CSODCP=0,1,"02"') == ["OK"]
    assert modem.send('AT+CSODCP=0,1,"03"') == ["+CME ERROR: 159"]  # APN rate control
    assert modem.send('AT+CSODCP=0,1,"04",0,1') == ["OK"]  # an exception report may pass
    assert modem.send('AT+CSODCP=0,1,"05",0,1') == ["+CME ERROR: 159"]  # serving PLMN: 3/6 min
    modem.wait(360)
    assert modem.send('AT+CSODCP=0,1,"06",0,1') == ["OK"]
    modem.wait(3600)
    assert modem.send('AT+CSODCP=0,1,"07"') == ["OK"]
    assert modem.ue.counters.mo_rate_limited == 2


def test_cesq(modem: Modem) -> None:
    assert modem.send("AT+CESQ") == ["+CESQ: 99,99,255,255,255,255", "OK"]
    modem.attach()
    assert modem.send("AT+CESQ") == ["+CESQ: 99,99,255,255,20,45", "OK"]


def test_psm_buffers_mt_data_until_mo_data(modem: Modem) -> None:
    modem.send("AT+CRTDCP=1")
    modem.send('AT+CPSMS=1,,,"00100001","00000101"')  # 1 h TAU, 10 s active time
    modem.attach()
    modem.send('AT+CSODCP=0,1,"00",1')
    modem.wait(11)
    assert modem.ue.in_psm
    imsi = modem.ue.sim.imsi
    result = modem.network.send_mt(imsi, "t", b"\x01", modem.now, max_latency=None)
    assert result.outcome.value == "buffered" and result.retry_at == pytest.approx(T0 + 2 + 3600)
    assert modem.wait(100) == []
    assert modem.send('AT+CSODCP=0,1,"02"') == ["OK", '+CRTDCP: 0,1,"01"']


def test_edrx_delivers_in_the_next_paging_window() -> None:
    modem = Modem(NetworkConfig(policy=GrantPolicy(ptw=2.56)))
    modem.send("AT+CRTDCP=1")
    modem.send('AT+CEDRXS=1,5,"0010"')  # 20.48 s
    modem.attach()
    modem.send('AT+CSODCP=0,1,"00",1')  # idle now: windows at 0, 20.48, 40.96 s...
    modem.wait(5)
    imsi = modem.ue.sim.imsi
    result = modem.network.send_mt(imsi, "t", b"\x01", modem.now, max_latency=None)
    assert result.outcome.value == "buffered"
    assert result.retry_at == pytest.approx(T0 + 2 + 20.48)
    deadline = modem.network.next_deadline(modem.now)
    assert deadline is not None and deadline == pytest.approx(T0 + 2 + 20.48)
    assert modem.wait(deadline - modem.now) == ['+CRTDCP: 0,1,"01"']


def test_overlong_and_odd_lines(modem: Modem) -> None:
    assert modem.send('AT+CGDCONT=1,"Non-IP') == ["+CME ERROR: 50"]
    # A command line is parsed strictly (the driver's splitter in strict mode): text
    # around a quoted parameter is refused, not joined as in a module's answers.
    assert modem.send('AT+CGDCONT=1,x"Non-IP"') == ["+CME ERROR: 50"]
    assert modem.send('AT+CGDCONT=1,"Non-IP"x') == ["+CME ERROR: 50"]
    assert modem.send('AT+CPSMS=1,,,"001"00001') == ["+CME ERROR: 50"]
    assert modem.send("") == []
    assert modem.send("at+cfun?") == ["+CFUN: 0", "OK"]
