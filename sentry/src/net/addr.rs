//! `struct sockaddr_un` as the guest passes and receives it: a path name,
//! an abstract name (`sun_path` starting with a NUL byte), or none.

use crate::errno::Errno;

/// `sizeof(struct sockaddr_un)`: the family and 108 bytes of `sun_path`.
pub const SOCKADDR_UN_LEN: usize = 110;
/// `sizeof(sa_family_t)`.
const FAMILY_LEN: usize = 2;

/// The name of an AF_UNIX socket. Neither kind is ever given to the host:
/// both live in the sentry (`net::names`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// A file system name, as the guest spelled it (no trailing NUL).
    Path(Vec<u8>),
    /// An abstract name: the bytes after the leading NUL, NULs included.
    Abstract(Vec<u8>),
}

impl UnixAddr {
    /// Parse the `len` bytes of a guest `sockaddr_un` given to bind or
    /// connect: EINVAL for a short, long or non-AF_UNIX address, as Linux's
    /// `unix_validate_addr`.
    pub fn parse(raw: &[u8]) -> Result<UnixAddr, Errno> {
        if raw.len() <= FAMILY_LEN || raw.len() > SOCKADDR_UN_LEN {
            return Err(Errno::EINVAL);
        }
        let family = u16::from_ne_bytes([raw[0], raw[1]]);
        if i32::from(family) != libc::AF_UNIX {
            return Err(Errno::EINVAL);
        }
        let path = &raw[FAMILY_LEN..];
        if path[0] == 0 {
            return Ok(UnixAddr::Abstract(path[1..].to_vec()));
        }
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        Ok(UnixAddr::Path(path[..end].to_vec()))
    }

    /// The `sockaddr_un` bytes getsockname and friends report: a path with
    /// its NUL, an abstract name with its leading NUL.
    pub fn encode(addr: Option<&UnixAddr>) -> Vec<u8> {
        let mut out = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        match addr {
            None => {}
            Some(UnixAddr::Path(p)) => {
                out.extend_from_slice(p);
                out.push(0);
            }
            Some(UnixAddr::Abstract(n)) => {
                out.push(0);
                out.extend_from_slice(n);
            }
        }
        out.truncate(SOCKADDR_UN_LEN);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(path: &[u8]) -> Vec<u8> {
        let mut v = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(path);
        v
    }

    #[test]
    fn parses_paths_and_abstract_names() {
        assert_eq!(
            UnixAddr::parse(&raw(b"/tmp/s\0junk")),
            Ok(UnixAddr::Path(b"/tmp/s".to_vec()))
        );
        assert_eq!(
            UnixAddr::parse(&raw(b"\0ab\0c")),
            Ok(UnixAddr::Abstract(b"ab\0c".to_vec()))
        );
        assert_eq!(UnixAddr::parse(&raw(b"")), Err(Errno::EINVAL));
        assert_eq!(UnixAddr::parse(&raw(&[b'a'; 109])), Err(Errno::EINVAL));
        let mut inet = raw(b"/x");
        inet[0] = libc::AF_INET as u8;
        assert_eq!(UnixAddr::parse(&inet), Err(Errno::EINVAL));
    }

    #[test]
    fn encodes_as_linux_reports() {
        assert_eq!(UnixAddr::encode(None).len(), 2);
        let p = UnixAddr::encode(Some(&UnixAddr::Path(b"/s".to_vec())));
        assert_eq!(&p[2..], b"/s\0");
        let a = UnixAddr::encode(Some(&UnixAddr::Abstract(b"n".to_vec())));
        assert_eq!(&a[2..], b"\0n");
    }
}
