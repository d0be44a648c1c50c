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
mod scripts;
mod signals;
mod sockets;
mod strace;
mod terminal;
mod threads;
mod writable_fs;
