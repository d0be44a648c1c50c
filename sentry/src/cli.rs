//! The `rvisor` command line.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "rvisor",
    version,
    about = "Run unmodified Linux x86-64 programs in a sandbox"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run PROGRAM in a sandbox; exits with its status (128+N for signal N).
    Run(RunArgs),
    /// Report which platforms work on this host, and why the others don't.
    Platforms,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlatformArg {
    Ptrace,
    Kvm,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Platform that runs guest code (default: the best available).
    #[arg(long, value_enum)]
    pub platform: Option<PlatformArg>,
    /// Host directory the guest sees as `/` (read only).
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// Print each guest system call with its arguments and result.
    #[arg(long)]
    pub strace: bool,
    /// Most processes the sandbox may hold at once; fork fails with EAGAIN
    /// past it.
    #[arg(long, default_value_t = 1024)]
    pub max_processes: usize,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}
