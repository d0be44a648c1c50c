//! Tests of `PageTables` as a whole, against the arena allocator.

mod random;
mod targeted;
