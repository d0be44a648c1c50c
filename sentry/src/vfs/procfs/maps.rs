//! /proc/PID/maps: one line per mapping,
//! `start-end perms offset major:minor inode` and, for a named mapping,
//! spaces up to column 73 and the name (a path, `[heap]`, `[stack]`).
//! An anonymous line keeps the space after the inode, as Linux's does.

use std::fmt::Write as _;

use super::Mapping;

/// Width Linux pads the fixed part of a line to before a name
/// (`25 + sizeof(void *) * 6 - 1`).
const NAME_COLUMN: usize = 72;

/// Every mapping's line.
pub fn format(maps: &[Mapping]) -> String {
    let mut s = String::new();
    for m in maps {
        line(&mut s, m);
    }
    s
}

fn line(s: &mut String, m: &Mapping) {
    let begin = s.len();
    let flag = |on: bool, c: char| if on { c } else { '-' };
    let _ = write!(
        s,
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        m.start,
        m.end,
        flag(m.read, 'r'),
        flag(m.write, 'w'),
        flag(m.exec, 'x'),
        if m.shared { 's' } else { 'p' },
        m.offset,
        libc::major(m.dev),
        libc::minor(m.dev),
        m.ino,
    );
    if !m.name.is_empty() {
        let used = s.len() - begin;
        s.extend(std::iter::repeat_n(' ', NAME_COLUMN.saturating_sub(used)));
        s.push(' ');
        s.push_str(&String::from_utf8_lossy(&m.name));
    }
    s.push('\n');
}
