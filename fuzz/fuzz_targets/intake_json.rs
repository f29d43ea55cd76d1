//! Any bytes, as a bulk body of `POST /admin/exposures` or `/admin/opt-outs` (JSON and NDJSON),
//! then every item as an exposure and as an opt-out: the parsers answer, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = chrono::Utc::now();
    for ndjson in [false, true] {
        if let Ok(items) = optout_server::intake::bulk_items(data, ndjson) {
            for (index, item) in items.into_iter().enumerate() {
                let _ = optout_server::intake::parse_exposure(item.clone(), index, now);
                let _ = optout_server::intake::parse_opt_out(item, index, now);
            }
        }
    }
});
