//! Panics inside dependencies (tract, image, protobuf) on malformed input, caught where scn
//! hands them a file, so that a bad file ends in an error that names it instead of a crash.
//!
//! Rust's default panic hook still prints the panic's own line first; the caller's error,
//! with the file's name, follows it.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`; a panic inside it becomes `Err("{dependency} crashed on it ({panic message})")`.
pub fn catching_panics<T>(dependency: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        format!("{dependency} crashed on it ({message})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_values_pass_through() {
        assert_eq!(catching_panics("x", || 7), Ok(7));
        let err = catching_panics("the decoder", || -> u8 { panic!("index {} out of range", 9) }).unwrap_err();
        assert_eq!(err, "the decoder crashed on it (index 9 out of range)");
        let err = catching_panics("x", || -> u8 { std::panic::panic_any(3_u32) }).unwrap_err();
        assert!(err.contains("no message"), "{err}");
    }
}
