import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_exchange(port: int, payload: bytes, tries: int = 50, wait: float = 0.5) -> bytes | None:
    """Sends payload to 127.0.0.1:port over UDP until an answer comes (the server may not be up
    yet, and a datagram can be lost); the answer, or None after `tries` sends."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(wait)
        for _ in range(tries):
            s.sendto(payload, ("127.0.0.1", port))
            try:
                return s.recvfrom(65535)[0]
            except socket.timeout:
                continue
    return None
