"""A real SMTP server for the tests (aiosmtpd), and a reader for what it received.

    python3 smtp_sink.py serve DIR [PORT]
                                        listens on 127.0.0.1 (PORT, or a free port), prints "READY <port>",
                                        stores each message as DIR/<n>.eml; stops when stdin closes
    python3 smtp_sink.py summary FILE   prints a JSON summary of one stored message

Recipients whose local part starts with "reject" get "550 5.1.1 no such user", those starting
with "later" get "451 4.3.0 try again later".
"""
import asyncio
import email
import email.policy
import json
import os
import socket
import sys


def serve(directory, port=0):
    from aiosmtpd.smtp import SMTP

    os.makedirs(directory, exist_ok=True)
    count = {"n": 0}

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            local = address.split("@", 1)[0].lower()
            if local.startswith("reject"):
                return "550 5.1.1 no such user"
            if local.startswith("later"):
                return "451 4.3.0 try again later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            count["n"] += 1
            path = os.path.join(directory, "%06d.eml" % count["n"])
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(envelope.original_content or envelope.content)
            os.rename(tmp, path)
            return "250 Message accepted"

    async def main():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Handler(), hostname="sink.test", decode_data=False), sock=sock
        )
        print("READY %d" % sock.getsockname()[1], flush=True)
        # Stop when the test closes our stdin (or dies).
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def summary(path):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            parts.append({"type": part.get_content_type(), "multipart": True})
            continue
        payload = part.get_payload(decode=True) or b""
        parts.append(
            {
                "type": part.get_content_type(),
                "params": dict(part.get_params() or []),
                "filename": part.get_filename(),
                "text": payload.decode(part.get_content_charset() or "utf-8", "replace"),
            }
        )
    out = {
        "message_id": msg["Message-ID"],
        "from": msg["From"],
        "to": msg["To"],
        "subject": str(msg["Subject"]),
        "content_language": msg["Content-Language"],
        "list_unsubscribe": msg["List-Unsubscribe"],
        "content_type": msg.get_content_type(),
        "parts": parts,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        print("MISSING aiosmtpd", file=sys.stderr)
        sys.exit(3)
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    elif sys.argv[1] == "summary":
        summary(sys.argv[2])
    else:
        sys.exit("usage: smtp_sink.py serve DIR | summary FILE")
