#!/usr/bin/env python3
# A stand-in for SPDK's scripts/rpc.py: it frames requests exactly as
# spdk.rpc.client.JSONRPCClient does (json.dumps with indent=2, no trailing
# newline, "params" omitted when empty, ids counting from 1) and reads replies
# with raw_decode, using only the standard library.
# Usage: rpcpy_client.py SOCKET CALLS_JSON  -> prints one JSON line per call.
import json
import socket
import sys


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.id = 0
        self.buf = ""
        self.decoder = json.JSONDecoder()

    def send(self, method, params=None):
        self.id += 1
        req = {"jsonrpc": "2.0", "method": method, "id": self.id}
        if params:
            req["params"] = params
        self.sock.sendall(json.dumps(req, indent=2).encode())
        return self.id

    def recv(self):
        while True:
            text = self.buf.lstrip()
            if text:
                try:
                    obj, end = self.decoder.raw_decode(text)
                    self.buf = text[end:]
                    return obj
                except ValueError:
                    pass
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk.decode()

    def call(self, method, params=None):
        rid = self.send(method, params)
        reply = self.recv()
        if reply.get("id") != rid:
            raise ValueError("reply id %r for request %r" % (reply.get("id"), rid))
        return reply


def main():
    client = Client(sys.argv[1])
    for call in json.loads(sys.argv[2]):
        reply = client.call(call["method"], call.get("params"))
        print(json.dumps(reply, sort_keys=True))


if __name__ == "__main__":
    main()
