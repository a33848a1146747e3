//! The token endpoints as an OpenAPI document describes them (feature `utoipa`): read from the
//! same configuration the router is built from, so that the document cannot promise a path,
//! field or flow the router does not serve.

use std::collections::{BTreeMap, BTreeSet};

use http::Method;
use serde_json::{Map, Value, json};

use super::{
    Endpoint, ErrorFormat, RequestField, ResponseShape, TokenEndpoints, TokenField, TokenRoute,
};
use crate::openapi::{ErrorBody, FlowUrls, TokenDoc, error_body};

/// The media types every token endpoint reads.
const BODY_TYPES: [&str; 2] = ["application/json", "application/x-www-form-urlencoded"];

impl TokenEndpoints {
    /// This router's part of an OpenAPI document, its paths under `prefix`; `layer_error` is the
    /// auth layer's error body, which routes without an error format of their own answer in.
    pub(crate) fn openapi(&self, prefix: &str, layer_error: &ErrorBody) -> TokenDoc {
        let mut doc = TokenDoc::default();
        let grants = self.grant_types();
        for route in TokenRoute::ALL {
            let endpoint = self.endpoints.get(&route).cloned().unwrap_or_default();
            if !endpoint.enabled || (route == TokenRoute::Authorize && self.consent.is_none()) {
                continue;
            }
            let path = format!(
                "{prefix}{}",
                endpoint.path.as_deref().unwrap_or(route.default_path())
            );
            let error = match (endpoint.error_format, route, self.error_format) {
                (Some(format), _, _) => error_body(Some(format)),
                (None, TokenRoute::Token | TokenRoute::Introspect, _) => {
                    error_body(Some(ErrorFormat::OAuth))
                }
                (None, _, Some(format)) => error_body(Some(format)),
                (None, _, None) => layer_error.clone(),
            };
            doc.schemas
                .insert(error.name.to_owned(), error.schema.clone());
            let mut operation = operation(route, &endpoint, &grants, &error, &mut doc.schemas);
            operation["operationId"] = Value::from(format!("auth_{route:?}").to_lowercase());
            operation["tags"] = json!(["auth"]);
            let mut item = Map::new();
            match route {
                TokenRoute::Verify => {
                    item.insert("get".into(), operation);
                    doc.authenticated.push((path.clone(), Method::GET));
                }
                TokenRoute::Logout => {
                    item.insert("post".into(), operation);
                    doc.authenticated.push((path.clone(), Method::POST));
                }
                TokenRoute::Authorize => {
                    let mut posted = operation.clone();
                    posted["operationId"] = Value::from("auth_authorize_form");
                    posted["requestBody"] = form_body(authorize_params_schema());
                    if let Some(posted) = posted.as_object_mut() {
                        posted.remove("parameters");
                    }
                    item.insert("get".into(), operation);
                    item.insert("post".into(), posted);
                }
                _ => {
                    item.insert("post".into(), operation);
                }
            }
            doc.paths.insert(path, Value::Object(item));
        }
        doc.flows = self.flows(&grants);
        doc
    }

    /// The grant types the OAuth token endpoint accepts, as the metadata document lists them,
    /// and the crate's own `api_key`.
    fn grant_types(&self) -> Vec<String> {
        let metadata = self.metadata();
        let mut grants: Vec<String> = metadata["grant_types_supported"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|grant| grant.as_str().map(str::to_owned))
            .collect();
        grants.push("api_key".to_owned());
        grants
    }

    /// The OAuth 2.0 flows the issuer offers, at the URLs its metadata publishes.
    fn flows(&self, grants: &[String]) -> Vec<FlowUrls> {
        let metadata = self.metadata();
        let Some(token) = metadata["token_endpoint"].as_str().map(str::to_owned) else {
            return Vec::new();
        };
        let offers = |grant: &str| grants.iter().any(|g| g == grant);
        let mut flows = Vec::new();
        if let Some(authorize) = metadata["authorization_endpoint"].as_str()
            && offers("authorization_code")
        {
            flows.push(FlowUrls::AuthorizationCode {
                authorize: authorize.to_owned(),
                token: token.clone(),
            });
        }
        if offers("client_credentials") {
            flows.push(FlowUrls::ClientCredentials {
                token: token.clone(),
            });
        }
        if offers("password") {
            flows.push(FlowUrls::Password { token });
        }
        flows
    }
}

/// The fields of a request about a token (RFC 7009 revocation, RFC 7662 introspection).
const TOKEN_REQUEST: &[RequestField] = &[
    RequestField::Token,
    RequestField::TokenTypeHint,
    RequestField::ClientId,
    RequestField::ClientSecret,
];

/// The Operation Object of one route.
fn operation(
    route: TokenRoute,
    endpoint: &Endpoint,
    grants: &[String],
    error: &ErrorBody,
    schemas: &mut BTreeMap<String, Value>,
) -> Value {
    let name = |field: RequestField| endpoint.field_name(field).to_owned();
    let string = || json!({ "type": "string" });
    let fields = |list: &[RequestField], required: &[RequestField]| {
        let properties: Map<String, Value> =
            list.iter().map(|field| (name(*field), string())).collect();
        let required: Vec<String> = required.iter().map(|field| name(*field)).collect();
        let mut schema = json!({ "type": "object", "properties": properties });
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        schema
    };
    let (summary, body, success) = match route {
        TokenRoute::Login => {
            let mut body = fields(
                &[
                    RequestField::Username,
                    RequestField::Password,
                    RequestField::ApiKey,
                    RequestField::Scope,
                    RequestField::SessionId,
                    RequestField::Tenant,
                ],
                &[],
            );
            if !endpoint.renamed(RequestField::Username) {
                body["properties"]["email"] =
                    json!({ "type": "string", "description": "Instead of the username." });
            }
            body["description"] = Value::from(format!(
                "`{}` (or `email`) with `{}`, or `{}`.",
                name(RequestField::Username),
                name(RequestField::Password),
                name(RequestField::ApiKey)
            ));
            (
                "Log in with a password or an API key",
                Some(body),
                grant_answer(route, endpoint, schemas),
            )
        }
        TokenRoute::Token => {
            let offers = |grant: &str| grants.iter().any(|g| g == grant);
            let mut list = vec![
                RequestField::GrantType,
                RequestField::RefreshToken,
                RequestField::ClientId,
                RequestField::ClientSecret,
                RequestField::ApiKey,
                RequestField::Scope,
                RequestField::Tenant,
            ];
            if offers("authorization_code") {
                list.extend([
                    RequestField::Code,
                    RequestField::RedirectUri,
                    RequestField::CodeVerifier,
                ]);
            }
            if offers("password") {
                list.extend([RequestField::Username, RequestField::Password]);
            }
            let mut body = fields(&list, &[]);
            body["properties"][name(RequestField::GrantType)]["enum"] = json!(grants);
            body["description"] = Value::from(
                "RFC 6749 token request; client credentials in the body or with HTTP Basic.",
            );
            (
                "OAuth 2.0 token endpoint",
                Some(body),
                grant_answer(route, endpoint, schemas),
            )
        }
        TokenRoute::Refresh => (
            "Refresh the tokens",
            Some(fields(
                &[RequestField::RefreshToken, RequestField::Scope],
                &[RequestField::RefreshToken],
            )),
            grant_answer(route, endpoint, schemas),
        ),
        TokenRoute::Revoke => (
            "Revoke a token (RFC 7009)",
            Some(fields(TOKEN_REQUEST, &[RequestField::Token])),
            json!({ "200": { "description": "Revoked, or no such token." } }),
        ),
        TokenRoute::Introspect => (
            "Introspect a token (RFC 7662)",
            Some(fields(TOKEN_REQUEST, &[RequestField::Token])),
            json!({ "200": { "description": "RFC 7662 introspection response.", "content": { "application/json": { "schema": {
                "type": "object", "required": ["active"],
                "properties": { "active": { "type": "boolean" }, "scope": string(), "client_id": string(),
                    "sub": string(), "exp": { "type": "integer" }, "iat": { "type": "integer" },
                    "token_type": string(), "iss": string() },
            } } } } }),
        ),
        TokenRoute::Logout => (
            "End the session of the Bearer token",
            None,
            json!({ "204": { "description": "The session has ended." } }),
        ),
        TokenRoute::Verify => (
            "Who the credential names",
            None,
            json!({ "200": { "description": "The credential is valid.", "content": { "application/json": { "schema": {
                "type": "object", "required": ["authenticated", "user_id", "scopes", "expires_at"],
                "properties": { "authenticated": { "type": "boolean" }, "user_id": string(),
                    "scopes": { "type": "array", "items": string() },
                    "expires_at": { "type": ["string", "null"], "format": "date-time" } },
            } } } } }),
        ),
        TokenRoute::Authorize => (
            "Authorization endpoint (authorization code with PKCE S256)",
            None,
            json!({
                "302": { "description": "Redirect to the client's redirect_uri with `code`, `state` and `iss`, or an error." },
                "303": { "description": "The same, answering a form post." },
            }),
        ),
    };
    let mut operation = json!({ "summary": summary, "responses": success });
    if let Some(body) = body {
        operation["requestBody"] = form_body(body);
    }
    if route == TokenRoute::Authorize {
        let params = authorize_params_schema();
        let required: BTreeSet<&str> = ["response_type", "client_id", "code_challenge"].into();
        let parameters: Vec<Value> = params["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(param, schema)| {
                json!({ "name": param, "in": "query", "required": required.contains(param.as_str()), "schema": schema })
            })
            .collect();
        operation["parameters"] = Value::Array(parameters);
    }
    // Verify's and logout's failures are the layer's, which `AuthDoc` adds when it marks them.
    if !matches!(route, TokenRoute::Verify | TokenRoute::Logout) {
        let content = json!({ error.content_type: { "schema": { "$ref": format!("#/components/schemas/{}", error.name) } } });
        let mut statuses: BTreeMap<u16, &str> = BTreeMap::from([
            (400, "The request or grant is invalid."),
            (401, "The client authentication failed."),
            (408, "The request body did not arrive in time."),
            (413, "The request body is too large."),
            (429, "Too many failed attempts; see Retry-After."),
        ]);
        for failure in endpoint.errors.values() {
            statuses
                .entry(failure.status.as_u16())
                .or_insert("A failure configured for this endpoint.");
        }
        if route == TokenRoute::Authorize {
            statuses.retain(|status, _| *status == 400);
        }
        for (status, description) in statuses {
            operation["responses"][status.to_string()] =
                json!({ "description": description, "content": content });
        }
    }
    operation
}

/// A request body read as JSON or as a form, with `schema`.
fn form_body(schema: Value) -> Value {
    let content: Map<String, Value> = BODY_TYPES
        .iter()
        .map(|media| ((*media).to_owned(), json!({ "schema": schema })))
        .collect();
    json!({ "required": true, "content": content })
}

/// The authorization request's parameters (RFC 6749 §4.1.1, RFC 7636 §4.3).
fn authorize_params_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "response_type": { "type": "string", "enum": ["code"] },
            "client_id": { "type": "string" },
            "redirect_uri": { "type": "string", "format": "uri" },
            "scope": { "type": "string" },
            "state": { "type": "string" },
            "code_challenge": { "type": "string" },
            "code_challenge_method": { "type": "string", "enum": ["S256"] },
        },
        "required": ["response_type", "client_id", "code_challenge"],
    })
}

/// The 200 answer of a route that grants tokens, in its configured shape, its schema added to
/// `schemas` under a name of the route's.
fn grant_answer(
    route: TokenRoute,
    endpoint: &Endpoint,
    schemas: &mut BTreeMap<String, Value>,
) -> Value {
    let shape = endpoint
        .response
        .clone()
        .unwrap_or_else(ResponseShape::oauth);
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (field, name) in shape.named_fields() {
        let (schema, always) = match field {
            TokenField::AccessToken => (json!({ "type": "string" }), true),
            TokenField::TokenType => (json!({ "type": "string", "examples": ["Bearer"] }), true),
            TokenField::ExpiresIn => (
                json!({ "type": "integer", "description": "Seconds until the access token expires." }),
                true,
            ),
            TokenField::ExpiresAt => (json!({ "type": "string", "format": "date-time" }), true),
            TokenField::Scope => (
                json!({ "type": "string", "description": "The granted scopes, space-delimited." }),
                true,
            ),
            TokenField::RefreshToken => (json!({ "type": "string" }), false),
            TokenField::SessionId => (json!({ "type": "string" }), false),
            TokenField::User => (
                json!({ "type": "object", "description": "What the login shows of the user." }),
                false,
            ),
        };
        if always {
            required.push(name.to_owned());
        }
        properties.insert(name.to_owned(), schema);
    }
    let mut schema = json!({ "type": "object", "required": required, "properties": properties });
    if let Some(envelope) = shape.envelope_name() {
        schema =
            json!({ "type": "object", "required": [envelope], "properties": { envelope: schema } });
    }
    let name = format!("{route:?}Response");
    schemas.insert(name.clone(), schema);
    json!({ "200": {
        "description": "The tokens granted.",
        "headers": { "Cache-Control": { "schema": { "type": "string", "enum": ["no-store"] } } },
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}") } } },
    } })
}
