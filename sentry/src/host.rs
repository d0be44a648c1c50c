//! The few raw host system calls the sentry needs that `rustix` does not
//! offer safely. Each takes only owned or borrowed Rust values.

use crate::kernel::task::RLimit;

/// The host's limit for resource `resource`, if it has one.
pub fn getrlimit(resource: u32) -> Option<RLimit> {
    let mut r = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit64 on ourselves (pid 0) only writes one rlimit64 into `r`.
    let rc = unsafe {
        libc::prlimit64(
            0,
            resource as libc::__rlimit_resource_t,
            std::ptr::null(),
            &mut r,
        )
    };
    (rc == 0).then_some(RLimit {
        cur: r.rlim_cur,
        max: r.rlim_max,
    })
}
