//! The policy parser on arbitrary text: never panics, errors are one line
//! (the CLI prints them as one), and a policy that parses also resolves or
//! fails with a clear error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sandspawn::policy::{parse_policy_toml, Policy, ResolveContext};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_policy_toml(text, Path::new("fuzz.toml")) {
        Err(e) => assert!(!e.to_string().contains('\n'), "multi-line error: {e}"),
        Ok(file) => {
            let layer = file.into_layer("fuzz.toml".into());
            let ctx = ResolveContext { cwd: Path::new("/w"), home: Some(Path::new("/home/u")) };
            match Policy::resolve(&[layer], &ctx) {
                Ok(p) => {
                    for r in p.read.iter().chain(&p.write).chain(&p.deny) {
                        assert!(r.path.is_absolute(), "relative path survived: {:?}", r.path);
                    }
                }
                Err(e) => assert!(!e.to_string().contains('\n'), "multi-line error: {e}"),
            }
        }
    }
});
