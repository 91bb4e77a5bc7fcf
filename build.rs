//! Build script: generates the C header of the C ABI (`capi/`) with
//! cbindgen. (The tests that compile C against it live with the tool, in
//! `cli/`, whose own build script tells them where things are.)
//!
//! The header lands in `OUT_DIR/expertsteer.h` and is copied to
//! `target/<profile>/include/expertsteer.h`, next to `libexpertsteer_c.so`.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed=capi/src");
    println!("cargo:rerun-if-changed=capi/cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    let config = cbindgen::Config::from_file(manifest.join("capi/cbindgen.toml"))
        .expect("capi/cbindgen.toml is readable and valid");
    let header = out.join("expertsteer.h");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(manifest.join("capi/src/lib.rs"))
        .generate()
        .expect("cbindgen could not parse capi/src/lib.rs")
        .write_to_file(&header);
    // OUT_DIR is target/<profile>/build/<pkg>-<hash>/out.
    if let Some(profile_dir) = out.ancestors().nth(3) {
        let include = profile_dir.join("include");
        std::fs::create_dir_all(&include).expect("create target include folder");
        copy_if_changed(&header, &include.join("expertsteer.h"));
    }
}

/// Copies without touching an unchanged file (keeps C rebuilds incremental).
fn copy_if_changed(from: &Path, to: &Path) {
    let new = std::fs::read(from).expect("read generated header");
    if std::fs::read(to).ok().as_deref() != Some(&new[..]) {
        std::fs::write(to, new).expect("write header copy");
    }
}
