"""No lwm2m command ends in a traceback for what a user does: its output closed early
(``| head``) or Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.timeout(60)

LWM2M = (sys.executable, "-m", "lwm2m.cli.main")
DECODE = (*LWM2M, "decode", "--format", "tlv", "--path", "/3/0", "--hex")
PAYLOAD = b"c800144f70656e204d6f62696c6520416c6c69616e6365"


def test_a_reader_that_stops_early_sees_no_traceback() -> None:
    command = " ".join([*LWM2M, "--help"]) + " | head -n 1"
    shell = subprocess.run(["bash", "-c", command], capture_output=True, check=False)
    assert shell.stdout.startswith(b"usage: lwm2m")
    assert b"Traceback" not in shell.stderr and b"BrokenPipe" not in shell.stderr


def test_output_into_a_closed_pipe_exits_141_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        decode = subprocess.run(
            DECODE, input=PAYLOAD, stdout=write_end, stderr=subprocess.PIPE, check=False
        )
    finally:
        os.close(write_end)
    assert (decode.returncode, decode.stderr) == (141, b"")


def test_ctrl_c_exits_130_quietly() -> None:
    process = subprocess.Popen(
        DECODE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    wait_until_blocked(process.pid)  # started, and blocked reading stdin
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert (process.returncode, err) == (130, b"")


def wait_until_blocked(pid: int, limit: float = 30.0) -> None:
    """Until the process sleeps with its CPU time still for a while: its imports are done and
    it waits for input (a fixed sleep is too short on a busy machine)."""
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        state, cpu = fields[0], int(fields[11]) + int(fields[12])
        if state == "S" and cpu == last:
            return
        last = cpu
        time.sleep(0.3)
    raise AssertionError("the command never settled to wait for input")
