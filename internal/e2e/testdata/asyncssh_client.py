"""An asyncssh SFTP client for transferd's end-to-end tests.

    asyncssh_client.py HOST PORT USER [--key FILE] [--password-env VAR] [--op "ls PATH"]...

Logs in with whatever it is given, as asyncssh does: the key first, then the password, so a
server that asks for both (PUBLIC_KEY_AND_PASSWORD, SSH's partial success) gets both on one
connection. Then lists each PATH. Prints "ok auth", then "ok ls NAMES..." per listing, or
"error ...", and exits 0 when everything worked, 1 when a listing failed, 2 when the login did.
"""
import argparse
import asyncio
import os
import sys
import warnings

warnings.filterwarnings("ignore")  # Debian's cryptography warns about ciphers asyncssh imports
import asyncssh  # noqa: E402


async def run(a):
    kwargs = dict(username=a.user, known_hosts=None, client_keys=[a.key] if a.key else None,
                  agent_path=None, preferred_auth="publickey,keyboard-interactive,password")
    if a.password_env:
        kwargs["password"] = os.environ[a.password_env]
    try:
        conn = await asyncio.wait_for(asyncssh.connect(a.host, a.port, **kwargs), 30)
    except (asyncssh.Error, OSError) as e:
        print("error auth: %s" % e)
        return 2
    print("ok auth")
    failed = False
    async with conn:
        async with conn.start_sftp_client() as sftp:
            for op in a.ops:
                words = op.split(" ")
                try:
                    if words[0] != "ls":
                        raise ValueError("unknown operation")
                    print("ok ls " + " ".join(sorted(await sftp.listdir(words[1]))))
                except (asyncssh.Error, OSError, ValueError) as e:
                    print("error %s: %s" % (op, e))
                    failed = True
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("user")
    p.add_argument("--key")
    p.add_argument("--password-env")
    p.add_argument("--op", dest="ops", action="append", default=[])
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
