"""A real SMTP server for tests/integration/test_notifiers (aiosmtpd).

Listens on 127.0.0.1 (port 0 unless given), prints "PORT <n>" once ready and
writes every accepted message to <outdir>/NNNN.eml. Recipients steer the
answer: perm*@ -> 550, temp*@ -> 451, hang*@ -> no answer for a minute.
Usage: smtp_server.py OUTDIR [PORT]
"""
import asyncio
import os
import sys

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local.startswith("perm"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("temp"):
            return "451 4.3.0 try again later"
        if local.startswith("hang"):
            await asyncio.sleep(60)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.outdir, "%04d.eml" % self.count)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 OK queued as Q%04d" % self.count


async def main():
    outdir = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    os.makedirs(outdir, exist_ok=True)
    handler = Handler(outdir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="billow-test"), "127.0.0.1", port)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
