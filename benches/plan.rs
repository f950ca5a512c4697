//! Plan build time, warm (bundles already in the cache) and cold (a new
//! cache directory each time, so the bundles are parsed and written).
//!
//! The parent environment mimics a machine behind an intercepting proxy:
//! a dozen CA variables naming the system bundle (as this machine exports)
//! plus SSL_CERT_FILE and NODE_EXTRA_CA_CERTS naming the proxy's CA, kept in
//! a directory beside its private key.
//!
//! Targets (issue "Foundation"): warm <= 1 ms, cold <= 20 ms.

use std::ffi::OsString;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use sandspawn::plan::{build, Request};

fn proxy_ca_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bench proxy CA");
    let cert = params.self_signed(&key).expect("self-signed");
    std::fs::write(dir.path().join("ca-cert.pem"), cert.pem()).expect("write cert");
    std::fs::write(dir.path().join("ca-key.pem"), key.serialize_pem()).expect("write key");
    dir
}

fn request(ca_dir: &std::path::Path, cache: PathBuf) -> Request {
    let system = "/etc/ssl/certs/ca-certificates.crt";
    let ca = ca_dir.join("ca-cert.pem").into_os_string();
    let mut env: Vec<(OsString, OsString)> = vec![
        ("HOME".into(), "/root".into()),
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("SSL_CERT_FILE".into(), ca.clone()),
        ("NODE_EXTRA_CA_CERTS".into(), ca),
        ("SSL_CERT_DIR".into(), ca_dir.as_os_str().to_owned()),
    ];
    for var in [
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
        "PIP_CERT",
        "AWS_CA_BUNDLE",
        "NIX_SSL_CERT_FILE",
        "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
        "HTTPLIB2_CA_CERTS",
    ] {
        env.push((var.into(), system.into()));
    }
    Request {
        command: vec!["true".into()],
        cwd: None,
        parent_cwd: std::env::temp_dir(),
        parent_env: env,
        layers: Vec::new(),
        cache_dir: Some(cache),
        system_root: PathBuf::from("/"),
    }
}

fn bench(c: &mut Criterion) {
    let ca_dir = proxy_ca_dir();
    let warm_cache = tempfile::tempdir().expect("tempdir");
    let warm = request(ca_dir.path(), warm_cache.path().join("trust"));
    let plan = build(&warm).expect("plan builds");
    assert!(plan.violations.is_empty(), "{:?}", plan.violations);
    assert!(plan.trust.bundle.is_some() && plan.trust.extras_bundle.is_some());

    let mut group = c.benchmark_group("plan_build");
    group.bench_function("warm", |b| b.iter(|| build(&warm).expect("plan")));
    group.bench_function("cold", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let req = request(ca_dir.path(), dir.path().join("trust"));
                (dir, req)
            },
            |(dir, req)| {
                build(&req).expect("plan");
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
