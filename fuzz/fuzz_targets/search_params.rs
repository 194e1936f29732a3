//! Any query string through the FHIR search parsers (Observation and Patient, with dates,
//! tokens, paging and `_sort`) and the FHIR date/period parser: a 400 value, never a panic.
#![no_main]

use jhe_core::fhir::search::{ObservationSearch, PatientSearch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let _ = ObservationSearch::parse(&params);
    let _ = PatientSearch::parse(&params);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jhe_core::fhir::datetime::range_of(text);
        let _ = jhe_core::fhir::datetime::start_of(text);
    }
});
