//! CA variables that name a hashed directory where their programs take
//! one: requests (REQUESTS_CA_BUNDLE, and CURL_CA_BUNDLE as its fallback)
//! and pip (PIP_CERT) load a directory as well as a file, so the proxy's CA
//! in such a directory must reach the bundles, not be skipped as "a
//! directory, not a file".

use std::process::Command;

use serde_json::Value;

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");

#[test]
fn a_requests_or_pip_ca_directory_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("corp-certs");
    std::fs::create_dir(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(
        dir.join("corp.pem"),
        params.self_signed(&key).unwrap().pem(),
    )
    .unwrap();
    for var in ["REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE"] {
        let out = Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", tmp.path())
            .env("XDG_CACHE_HOME", tmp.path().join("cache"))
            .env(var, &dir)
            .current_dir(tmp.path())
            .args(["explain", "--json", "--", "true"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{var}: {stderr}");
        assert!(!stderr.contains("not a file"), "{var}: {stderr}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let input = &v["trust"]["inputs"][0];
        assert_eq!(input["origin"]["name"], var, "{}", v["trust"]);
        assert_eq!(input["certificates"], 1, "{var}: {}", v["trust"]);
        assert_eq!(input["skipped"], Value::Null, "{var}: {}", v["trust"]);
        assert!(
            v["trust"]["extras_bundle"].is_string(),
            "{var}: {}",
            v["trust"]
        );
    }
}
