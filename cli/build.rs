//! Build script: tells the tests where the C header, `libexpertsteer_c`
//! and llama.cpp's install live, for compiling the C programs and loading
//! the library from Python. The header itself is the main crate's
//! (`build.rs` at the top, into `target/<profile>/include`).

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    // OUT_DIR is target/<profile>/build/<pkg>-<hash>/out.
    if let Some(profile_dir) = out.ancestors().nth(3) {
        println!(
            "cargo:rustc-env=EXPERTSTEER_INCLUDE_DIR={}",
            profile_dir.join("include").display()
        );
        println!(
            "cargo:rustc-env=EXPERTSTEER_PROFILE_DIR={}",
            profile_dir.display()
        );
    }
    // llama-cpp-sys-2 reports its CMake package folder (PREFIX/lib/cmake);
    // the install prefix holds lib/ and include/.
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
