//! Each seed example over real HTTP, step by step as its document (../shared/seeds/) says: paths,
//! bodies, field names, status codes, error codes and messages, lifetimes.
//!
//! Each example is included whole (its `demo` builds the app the binary serves), so each brings
//! its own copy of the shared support module: hence `duplicate_mod`.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../../chalk.rs"]
mod chalk_app;
#[allow(dead_code)]
#[path = "../../generic_api.rs"]
mod generic_api_app;
#[allow(dead_code)]
#[path = "../../ragchats.rs"]
mod ragchats_app;
#[allow(dead_code)]
#[path = "../../session_login.rs"]
mod session_login_app;
#[allow(dead_code)]
#[path = "../../silentchat.rs"]
mod silentchat_app;

mod chalk;
mod generic_api;
mod key_import;
mod ragchats;
mod session_login;
mod silentchat;

use serde_json::Value;
use tower_api_auth_tests::{Server, serve};

/// A string field of the demo credentials.
fn field<'a>(credentials: &'a Value, name: &str) -> &'a str {
    credentials[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in demo: {credentials}"))
}

/// The names of a JSON object's fields, sorted.
fn fields(body: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("an object: {body}"))
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
}

/// Serves an example's router over real HTTP.
async fn start(router: axum::Router) -> Server {
    serve(router).await
}
