//! time system calls.

use super::Handler;

pub(super) const TABLE: &[(i64, Handler)] = &[];
