"""The virtual board's I2C and UART commands, and the REPL UART's pins (part of hw.Hardware).

`BusCommands` is mixed into `hw.Hardware`: it answers the guest's "I" (machine.I2C) and "U"
(machine.UART) host calls against the chip models on the buses, times each I2C transfer by its
bytes at the bus clock, and routes what a UART model sends to the REPL UART's RX pin into the
REPL until the firmware claims the pin. It uses the Hardware's state (lock, clock, buses).
"""

from __future__ import annotations

from retrorun.devtools.models.bus import I2CBus, UARTPort

# The REPL UART (UART0) pins, (TX, RX): the esp32 port leaves UART0 on its IO_MUX pins
# (ports/esp32/machine_uart.c, UART_NUM_0: UART_PIN_NO_CHANGE) and feeds every byte it receives
# to the REPL, 0x03 raising KeyboardInterrupt (ports/esp32/uart.c, uart_irq_handler). Datasheet
# "Pin Overview": ESP32 U0TXD GPIO1 / U0RXD GPIO3, ESP32-S3 GPIO43 / GPIO44, ESP32-C3 21 / 20.
REPL_UART_PINS = {"esp32": (1, 3), "esp32s3": (43, 44), "esp32c3": (21, 20)}

ESP32_UART_RXBUF = 256  # machine.UART's receive buffer when rxbuf is not given (esp32 port)


class BusCommands:
    def _hear_repl_pins(self) -> None:
        """Bytes models sent to the REPL UART's RX pin while no machine.UART holds it."""
        if not self.uart_wires:
            return
        repl_rx = REPL_UART_PINS.get((self.profile or {}).get("chip", "esp32"), (None, None))[1]
        for uart_id, (_tx, rx) in self.uart_wires.items():
            port = self.uarts.get(uart_id)
            if rx == repl_rx and rx not in self.uart_claims and port is not None:
                self._repl_out += port.read() or b""

    def _deliver_repl(self) -> None:
        with self.lock:
            data, self._repl_out = bytes(self._repl_out), bytearray()
        if data:
            if self.repl_input is None:
                self.repl_heard += data
            else:
                self.repl_input(data)

    def _bus(self, bus_id: int) -> I2CBus:
        return self.i2c.setdefault(bus_id, I2CBus())

    def _i2c_transfer_us(self, bus_id: int, bus: I2CBus, addr: int, op: str,
                         args: list[str]) -> int:
        """How long the transaction holds the bus (and the VM, which waits for it): 9 clocks a
        byte (8 bits and the ACK) plus one for START, repeated START and STOP (I2C-bus spec
        UM10204), at the bus's clock; the register index is 1 byte, or the model's
        `index_bytes` (the VL53L1X's 16-bit indices)."""
        index = getattr(bus.devices.get(addr), "index_bytes", 1)
        if op == "r":  # S addr+W index Sr addr+R data... P
            nbytes, starts = 2 + index + int(args[3]), 3
        elif op == "w":  # S addr+W index data... P
            nbytes, starts = 1 + index + len(args[3] if len(args) > 3 else "") // 2, 2
        elif op == "R":
            nbytes, starts = 1 + int(args[2]), 2
        else:  # "W"
            nbytes, starts = 1 + len(args[2] if len(args) > 2 else "") // 2, 2
        clocks = 9 * nbytes + starts
        return -(-clocks * 1_000_000 // self.i2c_freq.get(bus_id, 400_000))

    def _i2c_cmd(self, op: str, args: list[str]) -> str:
        bus = self._bus(int(args[0]))
        now_s = self.now_us / 1e6
        for model in bus.devices.values():
            if hasattr(model, "advance") and hasattr(model, "t") and model.t < now_s:
                model.advance(now_s - model.t)
        if op == "i":  # init: bus scl sda freq
            self.i2c_freq[int(args[0])] = max(1, int(args[3])) if len(args) > 3 else 400_000
            return ""
        if int(args[0]) in self.i2c_held_low:  # SDA held low (faults.hold_sda_low)
            if op == "s":
                return ""
            from retrorun.devtools.vboard.faults import ETIMEDOUT_ESP32, I2C_STUCK_US

            self.i2c_timeouts += 1
            self.advance(I2C_STUCK_US)
            raise OSError(ETIMEDOUT_ESP32, "I2C bus timeout (SDA held low)")
        if op == "s":
            return " ".join(str(a) for a in bus.scan())
        addr = int(args[1])
        self.advance(self._i2c_transfer_us(int(args[0]), bus, addr, op, args))
        if op == "r":  # readfrom_mem: bus addr reg n
            return bus.readfrom_mem(addr, int(args[2]), int(args[3])).hex()
        if op == "w":  # writeto_mem: bus addr reg hex
            bus.writeto_mem(addr, int(args[2]), bytes.fromhex(args[3] if len(args) > 3 else ""))
            return ""
        if op == "R":  # readfrom: bus addr n
            device = bus._device(addr)
            if hasattr(device, "readfrom"):
                return bytes(device.readfrom(int(args[2]))).hex()
            return bytes(device.read(self._i2c_pointer.get((bus_id_of(args), addr), 0),
                                     int(args[2]))).hex()
        if op == "W":  # writeto: bus addr hex
            data = bytes.fromhex(args[2] if len(args) > 2 else "")
            device = bus._device(addr)
            if hasattr(device, "writeto"):
                device.writeto(data)
            elif data:
                self._i2c_pointer[(bus_id_of(args), addr)] = data[0]
                if len(data) > 1:
                    device.write(data[0], data[1:])
            return str(len(data))
        raise ValueError("i2c op")

    def _uart_cmd(self, op: str, args: list[str]) -> str:
        uid = int(args[0])
        port = self.uarts.setdefault(uid, UARTPort())
        model = self.uart_models.get(uid)
        if model is not None and hasattr(model, "poll"):
            model.poll(self, port)
        if op == "i":  # init: id baud tx rx rxbuf (the port's default 256 when not given)
            self._hear_repl_pins()  # what came before the claim went to the REPL
            self.uart_claims.update(int(p) for p in args[2:4] if int(p) >= 0)
            port.rxbuf = int(args[4]) if len(args) > 4 else ESP32_UART_RXBUF
            return ""
        if op == "a":
            return str(port.any())
        if op == "r":  # read: id n (-1 = all)
            nbytes = int(args[1])
            data = port.read(None if nbytes < 0 else nbytes)
            return "N" if data is None else data.hex()
        if op == "w":
            data = bytes.fromhex(args[1] if len(args) > 1 else "")
            port.write(data)
            if model is not None and hasattr(model, "received"):
                model.received(self, data)
            return str(len(data))
        raise ValueError("uart op")


def bus_id_of(args: list[str]) -> int:
    return int(args[0])


# ---- building from a board profile --------------------------------------------------------
