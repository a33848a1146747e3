//! The core's integration tests, one module per area, in one binary (one link instead of 22).
//! Each module says what it checks; `tower_api_auth_tests` holds the shared helpers.

mod api_keys;
mod auth_throttle;
mod conformance_matrix;
mod cookies;
mod debug_redaction;
mod errors;
mod exchanged_keys;
mod fleet;
mod header_props;
mod hyper_plain;
mod jwt;
mod key_admin;
mod key_changes;
mod layer_forms;
mod lifecycle_claims;
mod lifecycle_endpoints;
mod lifecycle_grants;
mod lifecycle_policies;
mod lifecycle_refresh;
mod lifecycle_sessions;
mod lifecycle_stores;
mod no_backend;
mod oauth_discovery;
mod oauth_server;
mod protected_resource;
mod rate_limits;
mod remote;
mod scopes;
mod shaped_endpoints;
mod signing_keys;
mod slow_bodies;
mod store_contract;
mod stored_times;
mod token_cache;
mod typed_claims;
