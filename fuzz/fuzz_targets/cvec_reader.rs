//! The control-vector reader on arbitrary bytes: a control vector it
//! accepts must pass `validate` and write back to the same vector; anything
//! else must be a `GgufError`.

#![no_main]

use gguf_tools::report::cvec_report;
use gguf_tools::ControlVector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(cv) = ControlVector::from_gguf_bytes(data) else {
        return;
    };
    cv.validate("<fuzz>")
        .expect("an accepted control vector is valid");
    let _ = cvec_report(&cv);
    let _ = cv.norms();
    let bytes = cv
        .to_gguf_bytes()
        .expect("an accepted control vector writes");
    let back = ControlVector::from_gguf_bytes(&bytes).expect("the written copy reads back");
    // Values are finite (checked on read), so == is exact here.
    assert_eq!(back, cv);
});
