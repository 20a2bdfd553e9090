"""A paramiko SFTP client for transferd's end-to-end tests.

    paramiko_client.py HOST PORT USER [--key FILE] [--password-env VAR] [--interactive] [--op OP]...

Authenticates as the options say, in this order: the key (publickey), then the password from the
environment variable VAR, with the "password" method or, with --interactive, with
"keyboard-interactive" (answering every prompt with it). Then runs each OP on one SFTP session:
"ls PATH", "put LOCAL REMOTE", "get REMOTE LOCAL", "mkdir PATH", "rm PATH", and "upload-stat REMOTE N"
(writes N bytes, then before closing asks the size by handle (FSTAT) and by path (STAT), as
WinSCP and resume logic do, and prints both), "hold-open N DIR" (opens files DIR/h0 ... for
writing, keeping them open until the client ends, until N are open or one is refused; prints how
many), "limits" (asks limits@openssh.com and prints its four numbers) and "wait FILE" (waits
until the local FILE exists, holding what is open). Prints one line per
step, "ok STEP ..." or "error STEP: MESSAGE", and exits 0 when every step worked, 1 otherwise,
2 when authentication failed.
"""
import argparse
import os
import sys
import time

import paramiko


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("user")
    p.add_argument("--key")
    p.add_argument("--password-env")
    p.add_argument("--interactive", action="store_true")
    p.add_argument("--op", dest="ops", action="append", default=[])
    a = p.parse_args()

    t = paramiko.Transport((a.host, a.port))
    t.banner_timeout = 30
    t.start_client(timeout=30)
    try:
        if a.key:
            key = paramiko.PKey.from_path(a.key) if hasattr(paramiko.PKey, "from_path") else load_key(a.key)
            try:
                rest = t.auth_publickey(a.user, key)
            except paramiko.AuthenticationException as e:
                print("error auth publickey: %s" % e)
                return 2
            print("ok auth publickey%s" % (" partial: " + ",".join(rest) if rest else ""))
        if a.password_env:
            password = os.environ[a.password_env]
            try:
                if a.interactive:
                    t.auth_interactive(a.user, lambda title, instr, prompts: [password for _ in prompts])
                else:
                    t.auth_password(a.user, password)
            except paramiko.AuthenticationException as e:
                print("error auth %s: %s" % ("keyboard-interactive" if a.interactive else "password", e))
                return 2
            print("ok auth %s" % ("keyboard-interactive" if a.interactive else "password"))
        if not t.is_authenticated():
            print("error auth: not authenticated")
            return 2
        sftp = paramiko.SFTPClient.from_transport(t)
        failed = False
        held = []  # files hold-open keeps open
        for op in a.ops:
            words = op.split(" ")
            try:
                if words[0] == "ls":
                    print("ok ls " + " ".join(sorted(sftp.listdir(words[1]))))
                elif words[0] == "put":
                    sftp.put(words[1], words[2])
                    print("ok put")
                elif words[0] == "get":
                    sftp.get(words[1], words[2])
                    print("ok get")
                elif words[0] == "mkdir":
                    sftp.mkdir(words[1])
                    print("ok mkdir")
                elif words[0] == "rm":
                    sftp.remove(words[1])
                    print("ok rm")
                elif words[0] == "upload-stat":
                    n = int(words[2])
                    with sftp.open(words[1], "wb") as f:
                        for off in range(0, n, 32768):
                            f.write(b"x" * min(32768, n - off))
                        f.flush()
                        by_handle = f.stat().st_size
                        by_path = sftp.stat(words[1]).st_size
                    print("ok upload-stat fstat=%d stat=%d" % (by_handle, by_path))
                elif words[0] == "hold-open":
                    n, d = int(words[1]), words[2]
                    opened = 0
                    try:
                        while opened < n:
                            held.append(sftp.open("%s/h%d" % (d, opened), "wb"))
                            opened += 1
                        print("ok hold-open opened %d" % opened)
                    except (IOError, OSError) as e:
                        print("error hold-open opened %d: %s" % (opened, e))
                        failed = True
                elif words[0] == "limits":
                    t_, msg = sftp._request(paramiko.sftp.CMD_EXTENDED, "limits@openssh.com")
                    print("ok limits %d %d %d %d" % tuple(msg.get_int64() for _ in range(4)))
                elif words[0] == "wait":
                    while not os.path.exists(words[1]):
                        time.sleep(0.05)
                    print("ok wait")
                else:
                    print("error %s: unknown operation" % op)
                    failed = True
            except (IOError, OSError) as e:
                print("error %s: %s" % (op, e))
                failed = True
        sftp.close()
        return 1 if failed else 0
    finally:
        t.close()


def load_key(path):
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key_file(path)
        except paramiko.SSHException:
            continue
    raise paramiko.SSHException("cannot read the key " + path)


if __name__ == "__main__":
    sys.exit(main())
