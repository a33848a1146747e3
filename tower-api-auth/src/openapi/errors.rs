//! The JSON Schemas of the error bodies each built-in [`ErrorFormat`] renders.

use serde_json::{Value, json};

use crate::error::ErrorFormat;

/// An error body as the document describes it: the component schema's name, its media type, and
/// the schema itself.
#[derive(Debug, Clone)]
pub(crate) struct ErrorBody {
    pub(crate) name: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) schema: Value,
}

/// The error body of `format`, or of a custom renderer (`None`), which the document can only
/// say exists.
pub(crate) fn error_body(format: Option<ErrorFormat>) -> ErrorBody {
    let string = json!({ "type": "string" });
    match format {
        Some(ErrorFormat::Nested | ErrorFormat::UpperCase) => ErrorBody {
            name: "AuthErrorNested",
            content_type: "application/json",
            schema: json!({
                "type": "object",
                "description": "The crate's nested error body.",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": { "type": "string", "examples": ["token_expired"] },
                            "message": string,
                            "details": { "type": "object" },
                        },
                    },
                },
            }),
        },
        Some(ErrorFormat::Flat) => ErrorBody {
            name: "AuthErrorFlat",
            content_type: "application/json",
            schema: json!({
                "type": "object",
                "description": "The error code and message, with any details beside them.",
                "required": ["error", "message"],
                "properties": {
                    "error": { "type": "string", "examples": ["token_expired"] },
                    "message": string,
                },
            }),
        },
        Some(ErrorFormat::OAuth) => ErrorBody {
            name: "AuthErrorOAuth",
            content_type: "application/json",
            schema: json!({
                "type": "object",
                "description": "RFC 6749 section 5.2 error response.",
                "required": ["error"],
                "properties": {
                    "error": { "type": "string", "examples": ["invalid_grant"] },
                    "error_description": string,
                },
            }),
        },
        Some(ErrorFormat::Problem) => ErrorBody {
            name: "AuthErrorProblem",
            content_type: "application/problem+json",
            schema: json!({
                "type": "object",
                "description": "RFC 9457 problem details, with the error code.",
                "required": ["type", "title", "status", "code"],
                "properties": {
                    "type": { "type": "string", "format": "uri-reference" },
                    "title": string,
                    "status": { "type": "integer" },
                    "detail": string,
                    "code": string,
                },
            }),
        },
        // `ErrorFormat` is non-exhaustive for users, not for the crate; a custom renderer's
        // body is the app's own.
        None => ErrorBody {
            name: "AuthErrorCustom",
            content_type: "application/json",
            schema: json!({
                "type": "object",
                "description": "The error body of the app's own error renderer.",
            }),
        },
    }
}
