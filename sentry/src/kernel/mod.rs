//! Tasks and the loop that runs them.

pub mod clone_flags;
pub mod exec;
pub mod fork;
pub mod futex;
pub mod futex_pi;
pub mod host_job;
mod host_thread;
pub mod inbox;
pub mod itimer;
pub mod job_control;
pub mod posix_timers;
pub mod proc_view;
pub mod process_table;
pub mod published;
pub mod run;
pub mod rusage;
pub mod siginfo;
pub mod signal;
pub mod signal_action;
pub mod signal_delivery;
pub mod signal_frame;
pub mod sleep;
pub mod task;
pub mod terminal_signals;
pub mod thread;
pub mod thread_group;
pub mod tty_jobs;
pub mod vfork;

pub use task::{Credentials, ExitStatus, Task};
