//! The steering-file reader on arbitrary bytes, twice: as given (the
//! header, length and checksum checks) and with the header and checksum
//! made right around bytes 20..len-32, so that mutations of a seed's
//! bincode payload reach the decoder and `validate` instead of stopping
//! at the checksum.

#![no_main]

use expertsteer_core::steerfile::{frame_payload, SteerFile};
use expertsteer_core::steering::Positions;
use libfuzzer_sys::fuzz_target;

/// Magic (8) + version (4) + payload length (8).
const HEADER_BYTES: usize = 20;
const CHECKSUM_BYTES: usize = 32;

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= HEADER_BYTES + CHECKSUM_BYTES {
        check(&frame_payload(
            &data[HEADER_BYTES..data.len() - CHECKSUM_BYTES],
        ));
    }
});

fn check(bytes: &[u8]) {
    let Ok(file) = SteerFile::from_bytes(bytes, "<fuzz>") else {
        return;
    };
    // An accepted file writes back and reads back to the same bytes (the
    // file may hold NaN in fields validate leaves alone, so compare bytes).
    let again = file.to_bytes().expect("an accepted file writes");
    let back = SteerFile::from_bytes(&again, "<again>").expect("the written copy reads back");
    assert_eq!(back.to_bytes().expect("and writes again"), again);
    // What a caller does next must not panic either.
    let _ = file.check_shape(file.target.n_layer, file.target.n_embd, "<model>");
    let _ = file.steering(None, Positions::All);
    let _ = file.to_control_vector(Some(0.5));
}
