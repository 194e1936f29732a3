//! Any payload through the Open mHealth validator, under every bundled schema: an error value,
//! never a panic. The first byte picks the schema.
#![no_main]

use std::sync::OnceLock;

use jhe_core::domain::CodeableConcept;
use jhe_core::format::DataFormat;
use jhe_plugins::OmhFormat;
use libfuzzer_sys::fuzz_target;

fn format() -> &'static (OmhFormat, Vec<String>) {
    static FORMAT: OnceLock<(OmhFormat, Vec<String>)> = OnceLock::new();
    FORMAT.get_or_init(|| {
        let format = OmhFormat::bundled();
        let codes = format
            .schemas()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        (format, codes)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let (format, codes) = format();
    if codes.is_empty() {
        return;
    }
    let code = &codes[usize::from(pick) % codes.len()];
    let concept = CodeableConcept {
        id: 0,
        coding_system: "https://w3id.org/openmhealth".into(),
        coding_code: code.clone(),
        text: code.clone(),
    };
    let _ = format.validate(&concept, payload);
});
