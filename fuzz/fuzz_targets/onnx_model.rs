#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scn_fuzz::onnx_model(data));
