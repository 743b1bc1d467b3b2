#!/usr/bin/env python3
"""Serve one serial device over RFC 2217 through pyserial's PortManager.

tinyprof's rfc2217 tests run this as a second, independent RFC 2217 server
beside ser2net (Debian package python3-serial).

Usage: pyserial_server.py DEVICE

It listens on a free loopback port and prints "listening HOST:PORT", then
one JSON object a line for every setting a client makes on the port, e.g.
{"baudrate": 115200} or {"dtr": false}, and {"error": ...} when the device
refuses one (a pseudo-terminal has no DTR or RTS). It serves one client at
a time until it is killed.
"""

import json
import os
import select
import socket
import sys
import termios

import serial
import serial.rfc2217


def report(**fields):
    print(json.dumps(fields), flush=True)


class ReportingPort:
    """Stands between PortManager and the device.

    Every line setting PortManager makes is reported before it is applied,
    so the test sees what the client asked for even where the device cannot
    do it; the modem inputs read as off, since a pty has none.
    """

    REPORTED = ("baudrate", "bytesize", "parity", "stopbits", "dtr", "rts")
    cts = dsr = ri = cd = False

    def __init__(self, port):
        object.__setattr__(self, "_port", port)

    def __getattr__(self, name):
        return getattr(self._port, name)

    def __setattr__(self, name, value):
        if name in self.REPORTED:
            report(**{name: value})
        try:
            setattr(self._port, name, value)
        except (OSError, termios.error, serial.SerialException) as exc:
            # A pty takes no DTR or RTS, nor some character sizes:
            # report it, and let PortManager answer as if it had worked.
            report(error="%s: %s" % (name, exc))


class SocketWriter:
    """The connection object PortManager writes its telnet answers to."""

    def __init__(self, sock):
        self.sock = sock

    def write(self, data):
        self.sock.sendall(data)


def serve(conn, port):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    manager = serial.rfc2217.PortManager(ReportingPort(port), SocketWriter(conn))
    fd = port.fileno()
    while True:
        ready, _, _ = select.select([conn, fd], [], [], 0.2)
        if conn in ready:
            data = conn.recv(65536)
            if not data:
                return
            port.write(b"".join(manager.filter(data)))
        if fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the pty's other side went away
                return
            if data:
                conn.sendall(b"".join(manager.escape(data)))
        manager.check_modem_lines()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: pyserial_server.py DEVICE")
    port = serial.Serial(sys.argv[1], 115200, timeout=0)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print("listening %s:%d" % listener.getsockname(), flush=True)
    while True:
        conn, _ = listener.accept()
        try:
            serve(conn, port)
        except (OSError, serial.SerialException) as exc:
            report(error="connection: %s" % exc)
        finally:
            conn.close()


if __name__ == "__main__":
    main()
