# Escape probes: `python3 -c "$(cat probe.py)" NAME FIXTURE HOST_PID TCP_PORT UDP_PORT`.
# Prints OK, an errno name (EACCES, EPERM, ...), or a marker word; one line.
import ctypes, errno, fcntl, os, resource, socket, sys

name, fx, host_pid, tcp_port, udp_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
secret = fx + "/home/.ssh/id_rsa"
libc = ctypes.CDLL(None, use_errno=True)


def sc(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def read(p):
    with open(p, "rb") as f:
        f.read()


def write(p):
    with open(p, "wb") as f:
        f.write(b"x")


def sock(fam, typ, proto=0):
    socket.socket(fam, typ, proto).close()


def tcp(host, port, fam=socket.AF_INET):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect((host, port))


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("127.0.0.1", udp_port))


def unix(addr):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(addr)


def status_line(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return line.split()[1]


def check(cond, word):
    if not cond:
        raise SystemExit(print("FAIL") or 0)
    print(word)
    raise SystemExit(0)


def fresh(tag):
    p = fx + "/ws/src/" + tag
    write(p)
    return p


def openat2(p):
    how = ctypes.create_string_buffer(24)  # struct open_how, all zero: O_RDONLY
    path = ctypes.create_string_buffer(p.encode())
    sc(437, -100, ctypes.addressof(path), ctypes.addressof(how), 24)


def prlimit_host():
    # Sets the core limit this process inherited from the host process:
    # the value that is already there, so harmless if it gets through.
    resource.prlimit(host_pid, resource.RLIMIT_CORE, resource.getrlimit(resource.RLIMIT_CORE))


NEWUSER, NEWNS, NEWNET = 0x10000000, 0x20000, 0x40000000
P = {
    "read_usr": lambda: read("/usr/bin/env"),
    "read_notes": lambda: read(fx + "/home/notes.txt"),
    "read_secret": lambda: read(secret),
    "list_secret_dir": lambda: os.listdir(fx + "/home/.ssh"),
    "read_outside": lambda: read(fx + "/outside/private.txt"),
    "write_ws": lambda: write(fx + "/ws/new.txt"),
    "write_ws_subdir": lambda: write(fx + "/ws/src/new.txt"),
    "write_notes": lambda: write(fx + "/home/notes.txt"),
    "write_usr": lambda: write("/usr/evil"),
    "write_etc": lambda: write("/etc/evil"),
    "write_git": lambda: write(fx + "/ws/.git/config"),
    "symlink_planted": lambda: read(fx + "/ws/planted-link"),
    "symlink_made_inside": lambda: (os.symlink(secret, fx + "/ws/made-link"), read(fx + "/ws/made-link")),
    "hardlink_made_inside": lambda: os.link(secret, fx + "/ws/made-hardlink"),
    "rename_secret_into_ws": lambda: os.rename(secret, fx + "/ws/stolen"),
    "parent_environ": lambda: read("/proc/%d/environ" % host_pid),
    "parent_cwd_listing": lambda: os.listdir("/proc/%d/cwd" % host_pid),
    "kill_host_process": lambda: os.kill(host_pid, 0),
    "dev_kmsg": lambda: read("/dev/kmsg"),
    "write_proc_sys": lambda: write("/proc/sys/kernel/hostname"),
    "tcp_host_loopback": lambda: tcp("127.0.0.1", tcp_port),
    "tcp6_socket": lambda: sock(socket.AF_INET6, socket.SOCK_STREAM),
    "udp_socket": udp,
    "raw_socket": lambda: sock(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
    "packet_socket": lambda: sock(socket.AF_PACKET, socket.SOCK_RAW),
    "netlink_socket": lambda: sock(socket.AF_NETLINK, socket.SOCK_RAW),
    "vsock_socket": lambda: sock(40, socket.SOCK_STREAM),
    "unix_socketpair": lambda: socket.socketpair(),
    "abstract_unix_host": lambda: unix("\0sandspawn-escape-%d" % tcp_port),
    "pathname_unix_host": lambda: unix(fx + "/outside/host.sock"),
    "ptrace_traceme": lambda: sc(101, 0, 0, 0, 0),
    "ptrace_attach_host": lambda: sc(101, 16, host_pid, 0, 0),
    "process_vm_readv": lambda: sc(310, host_pid, 0, 0, 0, 0, 0),
    "mount_tmpfs": lambda: sc(165, 0, 0, 0, 0, 0),
    "umount": lambda: sc(166, 0, 0),
    "pivot_root": lambda: sc(155, 0, 0),
    "open_tree": lambda: sc(428, -100, 0, 0),
    "unshare_user": lambda: sc(272, NEWUSER),
    "unshare_mount": lambda: sc(272, NEWNS),
    "clone_newuser": lambda: sc(56, NEWUSER | 17, 0, 0, 0, 0),
    "clone_newnet": lambda: sc(56, NEWNET | 17, 0, 0, 0, 0),
    "clone3": lambda: sc(435, 0, 0),
    "setns": lambda: sc(308, 0, 0),
    "bpf": lambda: sc(321, 0, 0, 0),
    "io_uring_setup": lambda: sc(425, 1, 0),
    "userfaultfd": lambda: sc(323, 0),
    "perf_event_open": lambda: sc(298, 0, 0, -1, -1, 0),
    "keyctl": lambda: sc(250, 0, 0, 0, 0, 0),
    "add_key": lambda: sc(248, 0, 0, 0, 0, -1),
    "kexec_load": lambda: sc(246, 0, 0, 0, 0),
    "tiocsti": lambda: sc(16, 0, 0x5412, 0),
    "tiocsti_high_bits": lambda: sc(16, 0, 0x100005412, 0),
    "tioclinux": lambda: sc(16, 0, 0x541C, 0),
    "x32_ptrace": lambda: sc(0x40000000 | 521, 0, 0, 0, 0),
    "sethostname": lambda: sc(170, 0, 0),
    "chmod_plain_ws": lambda: os.chmod(fresh("plain"), 0o755),
    "chmod_setuid_ws": lambda: os.chmod(fresh("suid"), 0o4755),
    "chmod_setgid_ws": lambda: os.chmod(fresh("sgid"), 0o2755),
    "fchmod_setuid_ws": lambda: os.fchmod(os.open(fresh("fsuid"), os.O_RDONLY), 0o4755),
    "create_setuid_ws": lambda: os.open(fx + "/ws/src/created-suid", os.O_CREAT | os.O_WRONLY, 0o4755),
    "mknod_setuid_ws": lambda: os.mknod(fx + "/ws/src/mknod-suid", 0o100000 | 0o4755),
    "openat2": lambda: openat2("/usr/bin/env"),
    "prlimit_host": prlimit_host,
    "chmod_notes": lambda: os.chmod(fx + "/home/notes.txt", 0o644),
    "no_new_privs": lambda: check(status_line("NoNewPrivs:") == "1", "NNP"),
    "caps_left": lambda: check(all(int(status_line(k), 16) == 0 for k in ("CapEff:", "CapPrm:", "CapInh:", "CapAmb:")), "NOCAPS"),
}

try:
    P[name]()
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
