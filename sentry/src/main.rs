//! `rvisor`: the command-line front end of the sentry.

mod cli;

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use sentry::sandbox::{probe_platform, run_sandbox, PlatformKind, SandboxConfig};

use cli::{Cli, Command, PlatformArg, RunArgs};

fn init_logging() {
    // Logs share the guest's stderr, so by default only rvisor's own
    // failures show; RVISOR_LOG=warn adds unimplemented system calls,
    // RVISOR_LOG=trace every platform event.
    let filter = tracing_subscriber::EnvFilter::try_from_env("RVISOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

fn run(args: RunArgs) -> Result<u8> {
    let platform = match args.platform {
        Some(PlatformArg::Ptrace) => Some(PlatformKind::Ptrace),
        Some(PlatformArg::Kvm) => Some(PlatformKind::Kvm),
        None => None,
    };
    let argv: Vec<Vec<u8>> = args.command.iter().map(|a| a.as_bytes().to_vec()).collect();
    let envp: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.as_bytes().to_vec();
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            e
        })
        .collect();
    let cfg = SandboxConfig {
        platform,
        root: args.root,
        strace: args.strace,
        max_processes: args.max_processes,
        program: argv[0].clone(),
        argv,
        envp,
    };
    match run_sandbox(&cfg) {
        Ok(status) => {
            sentry::kernel::host_job::end_like(status);
            Ok(status.shell_status() as u8)
        }
        Err(e) => {
            eprintln!("rvisor: {e}");
            Ok(e.exit_status() as u8)
        }
    }
}

fn platforms() -> u8 {
    for kind in PlatformKind::all() {
        match probe_platform(kind) {
            Ok(detail) if detail.is_empty() => println!("{}: available", kind.name()),
            Ok(detail) => println!("{}: available ({detail})", kind.name()),
            Err(why) => println!("{}: unavailable ({why})", kind.name()),
        }
    }
    0
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => match run(args) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("rvisor: {e:#}");
                125
            }
        },
        Command::Platforms => platforms(),
    };
    ExitCode::from(code)
}
