//! What the platform benchmark measures, and the reference figures it
//! compares against.

use std::time::Duration;

/// How many iterations a run does.
pub enum Count {
    /// A short calibration run of `min` iterations decides how many fill
    /// `TARGET_RUN`, within `min..=max`.
    Calibrated { min: u64, max: u64 },
    /// Always this argument (the 64 MiB touch is one fixed job).
    Fixed(u64),
}

/// How a case's figure reads best.
#[derive(Clone, Copy)]
pub enum Unit {
    Nanos,
    Micros,
    Millis,
    /// Throughput, from the nanoseconds one block of this many bytes takes.
    GbPerSecond {
        block: u64,
    },
}

impl Unit {
    pub fn label(self) -> &'static str {
        match self {
            Unit::Nanos => "ns",
            Unit::Micros => "µs",
            Unit::Millis => "ms",
            Unit::GbPerSecond { .. } => "GB/s",
        }
    }

    /// `ns` (what the guest printed) in this unit.
    pub fn show(self, ns: f64) -> f64 {
        match self {
            Unit::Nanos => ns,
            Unit::Micros => ns / 1e3,
            Unit::Millis => ns / 1e6,
            Unit::GbPerSecond { block } => block as f64 / ns,
        }
    }

    /// Whether lower figures are better (times) or higher (throughput).
    pub fn lower_is_better(self) -> bool {
        !matches!(self, Unit::GbPerSecond { .. })
    }
}

/// gVisor's figures for a case, from issue 4 (runsc with the ptrace
/// platform, pinned to one CPU, on the machine the issue was measured
/// on), in the case's unit, and rvisor's target: half of runsc's cost.
pub struct Reference {
    pub native: f64,
    pub runsc: f64,
    pub target: f64,
}

pub struct Case {
    pub name: &'static str,
    /// A guest in tests/guests, printing `key <ns>`.
    pub guest: &'static str,
    pub key: &'static str,
    pub count: Count,
    pub unit: Unit,
    pub reference: Option<Reference>,
}

/// Aim each calibrated run at about this long, whatever one iteration costs.
pub const TARGET_RUN: Duration = Duration::from_millis(300);

pub const TOUCH_MIB: u64 = 64;

pub const CASES: &[Case] = &[
    Case {
        name: "getppid",
        guest: "getppid_loop",
        key: "ns_per_call",
        count: Count::Calibrated {
            min: 2000,
            max: 5_000_000,
        },
        unit: Unit::Nanos,
        reference: None,
    },
    Case {
        name: "touch 64 MiB",
        guest: "touch_pages",
        key: "ns_total",
        count: Count::Fixed(TOUCH_MIB),
        unit: Unit::Millis,
        reference: None,
    },
    Case {
        name: "fork+wait",
        guest: "fork_wait_loop",
        key: "ns_per_iter",
        count: Count::Calibrated { min: 20, max: 5000 },
        unit: Unit::Micros,
        reference: Some(Reference {
            native: 72.0,
            runsc: 1000.0,
            target: 500.0,
        }),
    },
    Case {
        name: "fork+execve+wait",
        guest: "fork_exec_loop",
        key: "ns_per_iter",
        count: Count::Calibrated { min: 10, max: 2000 },
        unit: Unit::Micros,
        reference: Some(Reference {
            native: 170.0,
            runsc: 1800.0,
            target: 900.0,
        }),
    },
    Case {
        name: "pipe ping-pong",
        guest: "pipe_pingpong",
        key: "ns_per_iter",
        count: Count::Calibrated {
            min: 200,
            max: 200_000,
        },
        unit: Unit::Micros,
        reference: Some(Reference {
            native: 5.0,
            runsc: 98.0,
            target: 49.0,
        }),
    },
    Case {
        name: "pipe 64 KiB writes",
        guest: "pipe_throughput",
        key: "ns_per_iter",
        count: Count::Calibrated {
            min: 200,
            max: 200_000,
        },
        unit: Unit::GbPerSecond { block: 64 * 1024 },
        reference: Some(Reference {
            native: 3.9,
            runsc: 1.0,
            target: 2.0,
        }),
    },
];
