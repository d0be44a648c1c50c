//! Tasks and the loop that runs them.

pub mod proc_view;
pub mod run;
pub mod signal;
pub mod signal_action;
pub mod task;

pub use task::{Credentials, ExitStatus, Task};
