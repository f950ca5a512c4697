# Differential probe: `python3 -c "$(cat probe.py)" PATH...`.
# One line per path: PATH<TAB>stat=V<TAB>read=V<TAB>list=V<TAB>write=V, where
# V is OK (read: OK:bytes, list: OK:entries), an errno name, or "-" when the
# operation does not apply (list on a non-directory). Nothing is left behind:
# a directory's write probe creates and removes one file, a file's opens for
# appending and writes nothing.
import errno, os, stat, sys


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def verdict(fn):
    try:
        r = fn()
        return "OK" if r is None else "OK:%d" % r
    except OSError as e:
        return name(e)


def read(p):
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    try:
        n = 0
        while True:
            try:
                b = os.read(fd, 65536)
            except IsADirectoryError:
                return None
            if not b:
                return n
            n += len(b)
    finally:
        os.close(fd)


def write(p, is_dir):
    if not is_dir:
        os.close(os.open(p, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK))
        return None
    made = os.path.join(p, ".sandspawn-diff-probe")
    os.close(os.open(made, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.unlink(made)


for p in sys.argv[1:]:
    try:
        is_dir = stat.S_ISDIR(os.stat(p).st_mode)
    except OSError:
        is_dir = False
    out = [
        "stat=" + verdict(lambda: os.stat(p) and None),
        "read=" + verdict(lambda: read(p)),
        "list=" + (verdict(lambda: len(os.listdir(p))) if is_dir else "-"),
        "write=" + verdict(lambda: write(p, is_dir)),
    ]
    print(p + "\t" + "\t".join(out), flush=True)
