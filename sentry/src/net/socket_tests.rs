//! Unit tests of `net::socket`, kept apart to keep that file short.

use super::*;

fn got(s: &UnixSocket, buf: &mut [u8], flags: u32) -> Result<(usize, bool), Errno> {
    s.recv(buf, flags).map(|r| (r.len, r.truncated))
}

#[test]
fn a_token_travels_with_its_bytes() {
    let (a, b) = UnixSocket::pair(libc::SOCK_STREAM, false, cred(1)).unwrap();
    let token = rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    assert_eq!(a.send_with(b"ab", 0, Some(token.as_fd())), Ok(2));
    assert_eq!(a.send(b"cd", 0), Ok(2));
    let mut buf = [0u8; 8];
    let r = b.recv(&mut buf, 0).unwrap();
    assert_eq!(
        (r.len, r.tokens.len()),
        (2, 1),
        "a read stops after the rights"
    );
    let ino = |fd: BorrowedFd<'_>| rustix::fs::fstat(fd).unwrap().st_ino;
    assert_eq!(ino(r.tokens[0].as_fd()), ino(token.as_fd()));
    let r = b.recv(&mut buf, 0).unwrap();
    assert_eq!((r.len, r.tokens.len()), (2, 0));
}

fn cred(pid: i32) -> PeerCred {
    PeerCred {
        pid,
        uid: 1,
        gid: 2,
    }
}

#[test]
fn a_pair_keeps_datagram_boundaries_and_says_when_one_was_cut() {
    let (a, b) = UnixSocket::pair(libc::SOCK_DGRAM, false, cred(7)).unwrap();
    assert_eq!(a.send(b"hello", 0), Ok(5));
    assert_eq!(a.send(b"xy", 0), Ok(2));
    let mut buf = [0u8; 3];
    assert_eq!(got(&b, &mut buf, 0), Ok((3, true)));
    assert_eq!(&buf, b"hel");
    assert_eq!(got(&b, &mut buf, libc::MSG_PEEK as u32), Ok((2, false)));
    assert_eq!(got(&b, &mut buf, 0), Ok((2, false)));
    assert_eq!(got(&b, &mut buf, 0), Err(Errno::EAGAIN));
    assert_eq!(b.peer_cred(), cred(7));
}

#[test]
fn shutdown_and_close_reach_the_peer() {
    let (a, b) = UnixSocket::pair(libc::SOCK_STREAM, false, cred(1)).unwrap();
    a.shutdown(libc::SHUT_WR).unwrap();
    assert_eq!(got(&b, &mut [0u8; 4], 0), Ok((0, false)));
    assert_eq!(a.send(b"x", 0), Err(Errno::EPIPE));
    assert_eq!(a.shutdown(7), Err(Errno::EINVAL));
    drop(b);
    assert_eq!(got(&a, &mut [0u8; 4], 0), Ok((0, false)));
}

#[test]
fn connect_queues_on_the_listener_with_both_creds() {
    let server = UnixSocket::unconnected(libc::SOCK_STREAM, false);
    let client = UnixSocket::unconnected(libc::SOCK_STREAM, false);
    assert_eq!(
        client.connect_to(&server, cred(2)),
        Err(Errno::ECONNREFUSED)
    );
    assert_eq!(server.listen(0, cred(1)), Err(Errno::EINVAL), "unbound");
    server
        .set_name(UnixAddr::Abstract(b"socket-test".to_vec()), None)
        .unwrap();
    server.listen(0, cred(1)).unwrap();
    client.connect_to(&server, cred(2)).unwrap();
    assert_eq!(client.connect_to(&server, cred(2)), Err(Errno::EISCONN));
    let accepted = server.listener().unwrap().pop().unwrap();
    assert_eq!(accepted.peer_cred(), cred(2));
    assert_eq!(client.peer_cred(), cred(1));
    assert_eq!(client.peer_name(), server.name());
    assert_eq!(client.send(b"ping", 0), Ok(4));
    let mut buf = [0u8; 8];
    assert_eq!(got(&accepted, &mut buf, 0), Ok((4, false)));
    let dgram = UnixSocket::unconnected(libc::SOCK_DGRAM, false);
    assert_eq!(dgram.connect_to(&server, cred(3)), Err(Errno::EPROTOTYPE));
}
