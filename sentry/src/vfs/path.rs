//! Guest path strings: plain byte strings, `/`-separated, with no meaning
//! attached to `.`, `..` or symbolic links here. The host kernel resolves
//! them (inside the root) when a file is actually looked up.

/// Longest path a guest may pass, including its NUL (`PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// `path` as seen from directory `base` (an absolute guest path): `path`
/// itself if absolute, else `base/path`. No component is interpreted, so
/// `..` and symbolic links keep their meaning for the later lookup.
pub fn join(base: &[u8], path: &[u8]) -> Vec<u8> {
    if path.first() == Some(&b'/') {
        return path.to_vec();
    }
    let mut out = Vec::with_capacity(base.len() + 1 + path.len());
    out.extend_from_slice(base);
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(path);
    out
}

/// Split `path` into the directory that holds its last component and that
/// component, ignoring trailing slashes: `/a/b/` → (`/a`, `b`), `x` →
/// (`.`, `x`), `/` → (`/`, `.`).
pub fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    let trimmed = match path.iter().rposition(|&c| c != b'/') {
        Some(i) => &path[..=i],
        None if path.is_empty() => return (b".", b"."),
        None => return (b"/", b"."),
    };
    match trimmed.iter().rposition(|&c| c == b'/') {
        Some(i) => {
            let parent = trimmed[..i].strip_suffix(b"/").unwrap_or(&trimmed[..i]);
            let parent = if parent.iter().all(|&c| c == b'/') {
                &b"/"[..]
            } else {
                parent
            };
            (parent, &trimmed[i + 1..])
        }
        None => (b".", trimmed),
    }
}

/// Whether `path` ends in a slash (so must name a directory).
pub fn has_trailing_slash(path: &[u8]) -> bool {
    path.len() > 1 && path.last() == Some(&b'/')
}

/// Lexically clean an absolute path: drop empty and `.` components and
/// apply `..` to the text (never above `/`). Only correct where no symbolic
/// link is involved; used as a fallback for display (`getcwd`).
pub fn clean(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in path.split(|&c| c == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::with_capacity(path.len());
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_absolute_paths_and_prefixes_relative_ones() {
        assert_eq!(join(b"/home/u", b"/etc/passwd"), b"/etc/passwd");
        assert_eq!(join(b"/home/u", b"notes.txt"), b"/home/u/notes.txt");
        assert_eq!(join(b"/", b"notes.txt"), b"/notes.txt");
        assert_eq!(join(b"/home/u/", b"../x"), b"/home/u/../x");
        assert_eq!(join(b"/a", b"."), b"/a/.");
        assert_eq!(join(b"/a", b"b/"), b"/a/b/");
    }

    #[test]
    fn split_last_finds_parent_and_name() {
        assert_eq!(split_last(b"/a/b"), (&b"/a"[..], &b"b"[..]));
        assert_eq!(split_last(b"/a/b///"), (&b"/a"[..], &b"b"[..]));
        assert_eq!(split_last(b"/a//b"), (&b"/a"[..], &b"b"[..]));
        assert_eq!(split_last(b"/b"), (&b"/"[..], &b"b"[..]));
        assert_eq!(split_last(b"//b"), (&b"/"[..], &b"b"[..]));
        assert_eq!(split_last(b"b"), (&b"."[..], &b"b"[..]));
        assert_eq!(split_last(b"/"), (&b"/"[..], &b"."[..]));
        assert_eq!(split_last(b""), (&b"."[..], &b"."[..]));
    }

    #[test]
    fn trailing_slash() {
        assert!(has_trailing_slash(b"/a/"));
        assert!(!has_trailing_slash(b"/a"));
        assert!(!has_trailing_slash(b"/"));
    }

    #[test]
    fn clean_is_lexical_and_stays_below_root() {
        assert_eq!(clean(b"/a/./b//c/.."), b"/a/b");
        assert_eq!(clean(b"/../../x"), b"/x");
        assert_eq!(clean(b"/a/.."), b"/");
        assert_eq!(clean(b"/"), b"/");
    }
}
