//! The benchmark's report: one row per case, native and each platform side
//! by side with their ratio to native, then gVisor's figures from the issue
//! and whether each platform meets the target (half of runsc's cost).

use super::cases::{Case, CASES};

/// What one runner (native or a platform) measured: per case, the median
/// in nanoseconds as the guest printed it, or why there is none.
pub struct Column {
    pub name: String,
    pub results: Vec<Result<f64, String>>,
}

pub fn print(columns: &[Column]) {
    let native = columns.iter().find(|c| c.name == "native");
    print!("{:<20} {:>5}", "benchmark", "unit");
    for column in columns {
        print!(" {:>18}", column.name);
    }
    println!(
        " {:>18} {:>8}  meets target",
        "runsc (its native)", "target"
    );
    for (i, case) in CASES.iter().enumerate() {
        print!("{:<20} {:>5}", case.name, case.unit.label());
        for column in columns {
            print!(
                " {:>18}",
                cell(case, &column.results[i], native.map(|n| &n.results[i]))
            );
        }
        match &case.reference {
            Some(r) => {
                let bound = if case.unit.lower_is_better() {
                    "≤"
                } else {
                    "≥"
                };
                let runsc = format!("{} ({})", figure(r.runsc), figure(r.native));
                print!(
                    " {runsc:>18} {:>8} ",
                    format!("{bound}{}", figure(r.target))
                );
                for column in columns.iter().filter(|c| c.name != "native") {
                    let verdict = match &column.results[i] {
                        Ok(ns) => {
                            let v = case.unit.show(*ns);
                            let met = if case.unit.lower_is_better() {
                                v <= r.target
                            } else {
                                v >= r.target
                            };
                            if met {
                                "yes"
                            } else {
                                "NO"
                            }
                        }
                        Err(_) => "-",
                    };
                    print!(" {}:{verdict}", column.name);
                }
                println!();
            }
            None => println!(" {:>18} {:>8}", "-", "-"),
        }
    }
    for column in columns {
        for (case, result) in CASES.iter().zip(&column.results) {
            if let Err(reason) = result {
                println!("{} {}: {reason}", column.name, case.name);
            }
        }
    }
}

/// `value (ratio to native)`.
fn cell(case: &Case, result: &Result<f64, String>, native: Option<&Result<f64, String>>) -> String {
    let Ok(ns) = result else {
        return "failed".to_owned();
    };
    let shown = figure(case.unit.show(*ns));
    match native {
        Some(Ok(base)) if base != ns => {
            // A cost ratio either way: how many times native's cost this is.
            format!("{shown} ({:.1}x)", ns / base)
        }
        _ => shown,
    }
}

/// Three significant digits or so, without exponent notation.
fn figure(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
