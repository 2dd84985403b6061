"""Ports with no MicroPython behind them (issue 16, clean fast failures): a silent listener, one
that answers with an ESP32 ROM's download-mode banner, one that sends noise (a wrong baud rate),
and a serial port another program holds. Each fails with one stderr line naming the likely cause,
nothing on stdout (even with --json), well within the few seconds a person waits."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from retrorun.cli.main import main


class Listener:
    """A TCP port (socket://) that reads what the host sends and answers `reply` to it."""

    def __init__(self, reply: bytes = b""):
        self.reply = reply
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.port = self.server.getsockname()[1]
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.clients.append(client)
            threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    def _answer(self, client: socket.socket) -> None:
        while True:
            try:
                data = client.recv(256)
            except OSError:
                return
            if not data:
                return
            if self.reply:
                client.sendall(self.reply)

    def close(self) -> None:
        self.server.close()
        for client in self.clients:
            client.close()


@pytest.fixture
def listener():
    made: list[Listener] = []

    def make(reply: bytes = b"") -> str:
        made.append(Listener(reply))
        return f"socket://127.0.0.1:{made[-1].port}"

    yield make
    for item in made:
        item.close()


def run_timed(work, capsys, argv):
    started = time.monotonic()
    status = main(argv)
    took = time.monotonic() - started
    out, err = capsys.readouterr()
    assert status == 1
    assert out == "", "stdout holds only the promised output"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("retrorun: "), err
    return lines[0], took


@pytest.mark.parametrize("argv", [["status", "--json"], ["sync", "--json"], ["config", "get"]])
def test_a_silent_port_fails_fast_and_says_what_may_be_wrong(work, capsys, listener, argv):
    port = listener()
    err, took = run_timed(work, capsys, [*argv, "--port", port])
    assert err == (f"retrorun: cannot reach a MicroPython board on {port}: nothing answered "
                   "within 3 s: the board may be in download mode (press its reset button), "
                   "held in reset by another program, or not running MicroPython (retrorun "
                   "flash)")
    assert took < 6.0  # the acceptance: within 6 s (the raw REPL is tried for 0.8 + 1.5 s)


def test_a_board_in_download_mode_is_named(work, capsys, listener):
    # what an ESP32's ROM prints when it boots with GPIO0 low (esptool's docs, boot log)
    port = listener(b"rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))"
                    b"\r\nwaiting for download\r\n")
    err, _ = run_timed(work, capsys, ["status", "--json", "--port", port])
    assert err.endswith("the board is in download mode (its ROM printed 'waiting for "
                        "download'); press its reset (EN) button without BOOT, or unplug and "
                        "replug it, and retry")


def test_noise_on_the_port_suggests_a_wrong_baud_rate(work, capsys, listener):
    port = listener(bytes(range(128, 256)))  # what 115200 baud text looks like read at 74880
    err, _ = run_timed(work, capsys, ["status", "--port", port])
    assert err.endswith("the port sends bytes that are not text: a wrong baud rate (MicroPython's "
                        "REPL is at 115200) or another device on this port")


def test_text_that_is_not_a_repl_is_quoted(work, capsys, listener):
    port = listener(b"AT+OK\r\n")  # a modem, or a board running other firmware
    err, _ = run_timed(work, capsys, ["status", "--port", port])
    assert "something answers but it is not MicroPython's REPL" in err and "AT+OK" in err


def test_a_port_another_program_holds_is_busy(work, capsys):
    import serial

    controller, device = os.openpty()
    path = os.ttyname(device)
    holder = serial.serial_for_url(path, do_not_open=True, exclusive=True)
    holder.open()  # another program (a serial monitor) has it
    try:
        err, _ = run_timed(work, capsys, ["status", "--json", "--port", path])
    finally:
        holder.close()
        os.close(controller)
        os.close(device)
    assert err == (f"retrorun: {path} is busy: another program holds it (a serial monitor, "
                   "mpremote, an IDE, esptool); close it and retry")


def test_a_missing_port_says_so(work, capsys):
    err, _ = run_timed(work, capsys, ["status", "--port", "/dev/ttyRETRORUN-NONE"])
    assert err == ("retrorun: /dev/ttyRETRORUN-NONE does not exist; plug the board in "
                   "(retrorun devices lists the ports)")
