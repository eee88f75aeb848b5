#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ivanti_exporter::fuzzing::run("ics_status_overview", data);
});
