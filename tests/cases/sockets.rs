//! AF_UNIX sockets: socketpairs, named (path and abstract) servers and
//! clients across fork, and a real program that needs them (Python's
//! asyncio, whose event loop wakes itself through a socketpair).

use std::path::Path;

use crate::harness::{assert_same_as_native, guest, Run};

#[test]
fn unix_sockets_behave_as_on_linux() {
    let native = assert_same_as_native(&Run::new(guest("unix_sockets")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "socket(AF_UNIX, SOCK_RDM): ESOCKTNOSUPPORT",
        "socketpair SO_PEERCRED: len 12 pid is me 1 uid 1",
        "fstat: socket 1",
        "fd link: socket:[",
        "recvfrom: 8 'peekaboo' addrlen 0",
        "dgram cut: 2 'th' MSG_TRUNC 1",
        "seqpacket MSG_TRUNC returns the length: 7",
        "sendmmsg: 3",
        "recvmmsg MSG_WAITFORONE: 3, lengths 1 2 3",
        "nonblocking read: EAGAIN",
        "big non-blocking write partial: 1",
        "blocking read woken by child: 4 'wake'",
        "MSG_WAITALL: 9 'abcdefghi'",
        "send MSG_NOSIGNAL to closed peer: EPIPE, SIGPIPEs 0",
        "send to closed peer: EPIPE, SIGPIPEs 1",
        "write to closed peer: EPIPE, SIGPIPEs 2",
        "peer reads EOF: 0",
        "epoll_wait with data: 1 data 77 in 1",
        "poll after peer closed: hup 1",
        "connect to a missing path: ENOENT",
        "bind again: EADDRINUSE",
        "stat: socket 1",
        "open the name: ENXIO",
        "connect to bound, not listening: ECONNREFUSED",
        "accept4: OK, peer addrlen 2, cloexec 1, nonblock 0",
        "server: SO_PEERCRED pid is the child 1",
        "child: SO_PEERCRED pid is the server 1",
        "child: getpeername len matches 1 name matches 1",
        "child: reply 10 'hello back'",
        "listener poll with one pending: 1 in 1",
        "connect after the listener closed: ECONNREFUSED",
        "connect after unlink: ENOENT",
        "connect to a regular file: ECONNREFUSED",
        "abstract bind taken: EADDRINUSE",
        "backlog 0, second connect: EAGAIN",
        "accepted, reads the early data: 5",
        "abstract name free again: OK",
        "listen on a datagram socket: EOPNOTSUPP",
        "done",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

#[test]
fn descriptors_pass_over_unix_sockets() {
    let native = assert_same_as_native(&Run::new(guest("unix_rights")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "received 3 bytes 'fds', 2 descriptors, ctrunc 0",
        "cloexec: 1 1",
        "read from the passed pipe: 'through the pipe'",
        "passed file reads from the sender's offset: 'contents'",
        "room for one: 3 bytes, 1 descriptor, ctrunc 1, open fds grew by 1",
        "no control buffer: 4 bytes, ctrunc 1, open fds grew by 0",
        "read stops at the rights: 2 'ab' with 1",
        "sending a closed descriptor: EBADF",
        "datagram: 5 'dgram' with 2",
        "all closed, none left behind: 1",
        "pipe read end after its in-flight write end was dropped: 0",
        "pipe read end after read(2) dropped its write end: 0",
        "SO_PASSCRED: 1 byte, SCM_CREDENTIALS 1, pid is me 1, uid 1",
        "done",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// asyncio's event loop (its self-pipe is a socketpair) running a child
/// process, serving and reaching a named socket, and multiprocessing's
/// pool and pipe; skipped where the host has no python3.
#[test]
fn python_asyncio_and_multiprocessing() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("skipped: no /usr/bin/python3 on this host");
        return;
    }
    let script = [
        "import asyncio, multiprocessing, os, socket",
        "path = '/tmp/rvisor-asyncio-%d' % os.getpid()",
        "async def handle(r, w):",
        "    w.write(b'echo: ' + await r.readline())",
        "    await w.drain()",
        "    w.close()",
        "async def main():",
        "    p = await asyncio.create_subprocess_exec('/bin/echo', 'hello from child',",
        "                                             stdout=asyncio.subprocess.PIPE)",
        "    out, _ = await p.communicate()",
        "    print('child said:', out.decode().strip(), 'status', p.returncode)",
        "    srv = await asyncio.start_unix_server(handle, path)",
        "    r, w = await asyncio.open_unix_connection(path)",
        "    w.write(b'hello server\\n')",
        "    await w.drain()",
        "    print((await r.readline()).decode().strip())",
        "    w.close()",
        "    srv.close()",
        "    await srv.wait_closed()",
        "    os.unlink(path)",
        "asyncio.run(main())",
        "def square(x): return x * x",
        "with multiprocessing.get_context('fork').Pool(2) as pool:",
        "    print('pool:', pool.map(square, range(5)))",
        "a, b = multiprocessing.Pipe()",
        "a.send({'k': 1})",
        "print('pipe:', b.recv())",
    ]
    .join("\n");
    let native = assert_same_as_native(&Run::new(python).args(["-c", script.as_str()]));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "child said: hello from child status 0",
        "echo: hello server",
        "pool: [0, 1, 4, 9, 16]",
        "pipe: {'k': 1}",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}
