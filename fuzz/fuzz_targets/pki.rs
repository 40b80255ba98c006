#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealmail_smime_fuzz::run_pki(data));
