//! The control API: any HTTP request (method, path and query, header fields, body — JSON or
//! not) goes through the real router with a bearer token set and a phone behind it that
//! refuses everything. Nothing may panic, no request may get a 2xx from a phone that did
//! nothing, no 500 (a refusal the API failed to read), and every error is a JSON object
//! with a message.
//!
//! Input: the first line is `METHOD PATH`, then header lines up to an empty line, then the
//! body.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;

fn tokio() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let Some((method, target)) = lines.next().and_then(|l| l.split_once(' ')) else {
        return;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    // A HEAD request is answered without a body (RFC 9110 §9.3.2), so only its status is checked.
    let head_only = method == Method::HEAD;
    let mut request = Request::builder().method(method).uri(target);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            request = request.header(name.trim(), value.trim());
        }
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else {
        return;
    };
    let (status, body) = tokio().block_on(runtime::answer_without_phone(
        request,
        Some("fuzz-token".to_owned()),
    ));
    assert!(
        !status.is_success() && status != StatusCode::INTERNAL_SERVER_ERROR,
        "{status} from a phone that refuses everything: {}",
        String::from_utf8_lossy(&body)
    );
    if head_only {
        return;
    }
    let json: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{status} with a body that is not JSON ({e}): {body:?}"));
    let message = json.get("error").and_then(|m| m.as_str());
    assert!(
        message.is_some_and(|m| !m.is_empty()),
        "{status} without a message: {json}"
    );
});
