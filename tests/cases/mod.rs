//! The test cases, grouped by what they exercise.

mod bad_input;
mod basics;
mod busybox;
mod files;
mod jobs;
mod memory;
mod processes;
mod procfs;
mod root;
mod signals;
mod strace;
mod writable_fs;
