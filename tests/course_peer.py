"""A peer in the style of the course's socket examples: a 4-byte big-endian
size header, then the file in chunks. Used by raw_test.ts for interop.

  python3 course_peer.py send HOST PORT FILE      # connect and send FILE
  python3 course_peer.py recv PORT OUTFILE        # listen on 127.0.0.1, print the port, receive
"""
import socket
import struct
import sys


def send(host, port, path):
    with open(path, "rb") as f:
        data = f.read()
    with socket.create_connection((host, int(port))) as s:
        s.sendall(struct.pack(">I", len(data)))
        for i in range(0, len(data), 4096):
            s.sendall(data[i:i + 4096])


def recv(port, out):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", int(port)))
        srv.listen(1)
        print(srv.getsockname()[1], flush=True)
        conn, _ = srv.accept()
        with conn:
            header = b""
            while len(header) < 4:
                part = conn.recv(4 - len(header))
                if not part:
                    sys.exit("stream ended inside the header")
                header += part
            (size,) = struct.unpack(">I", header)
            got = bytearray()
            while len(got) < size:
                part = conn.recv(min(4096, size - len(got)))
                if not part:
                    sys.exit("stream ended early")
                got += part
        with open(out, "wb") as f:
            f.write(got)


if __name__ == "__main__":
    {"send": send, "recv": recv}[sys.argv[1]](*sys.argv[2:])
