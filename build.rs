//! Build script: generates the C header of the C ABI (`capi/`) with
//! cbindgen, and tells the tests where the llama.cpp build of
//! `llama-cpp-sys-2` lives (for compiling the C example against it).
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
        println!(
            "cargo:rustc-env=EXPERTSTEER_INCLUDE_DIR={}",
            include.display()
        );
        println!(
            "cargo:rustc-env=EXPERTSTEER_PROFILE_DIR={}",
            profile_dir.display()
        );
    }
    // llama-cpp-sys-2 (links = "llama") reports its CMake package folder
    // (PREFIX/lib/cmake); the install prefix holds lib/ and include/.
    if let Ok(cmake_dir) = env::var("DEP_LLAMA_GGML_CMAKE_DIR") {
        let prefix = Path::new(&cmake_dir)
            .ancestors()
            .find(|d| d.join("include/llama.h").exists());
        if let Some(prefix) = prefix {
            println!(
                "cargo:rustc-env=EXPERTSTEER_LLAMA_PREFIX={}",
                prefix.display()
            );
        }
    }
}

/// Copies without touching an unchanged file (keeps C rebuilds incremental).
fn copy_if_changed(from: &Path, to: &Path) {
    let new = std::fs::read(from).expect("read generated header");
    if std::fs::read(to).ok().as_deref() != Some(&new[..]) {
        std::fs::write(to, new).expect("write header copy");
    }
}
