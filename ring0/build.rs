//! Lays out ring0's guest-side code with linker/ring0.ld in every binary,
//! test and benchmark of this package (see linker/README.md).

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&manifest).join("../linker/ring0.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg=-Wl,-T,{}", script.display());
}
