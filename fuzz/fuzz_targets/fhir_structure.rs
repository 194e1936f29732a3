//! Any JSON document through the FHIR R5 structure validator and the snake_case → camelCase
//! key rewrite: they answer issues, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = jhe_core::fhir::structure::validate_resource(&value, None);
    let _ = jhe_core::fhir::structure::validate_resource(&value, Some("Observation"));
    let _ = jhe_core::fhir::structure::validate_bundle_shell(&value);
    let _ = jhe_core::fhir::structure::camelize_keys(&mut value, "");
});
